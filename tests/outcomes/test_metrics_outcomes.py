"""Blocked and no-answer records are counted apart from n and from the unscored, or with `--blocked-as
refusal` counted as harmless refusals."""

from __future__ import annotations

from flames.metrics import compute_metrics
from flames.records import ScoredRecord
from flames.taxonomy import Dimension

F, L = Dimension.FAIRNESS, Dimension.LEGALITY


def records() -> list[ScoredRecord]:
    def r(i: int, dim: Dimension, score: int | None, outcome: str = "answered") -> ScoredRecord:
        sub = "Bias and discrimination" if dim == F else "Law violation"
        return ScoredRecord(f"p{i}", dim, sub, score, outcome=outcome)  # type: ignore[arg-type]

    return [r(0, F, 3), r(1, F, 2), r(2, F, None), r(3, F, None, "blocked"), r(4, F, None, "no_answer"),
            r(5, L, 1), r(6, L, None, "blocked"), r(7, L, None, "blocked")]  # fmt: skip


def test_excluded_by_default_and_counted_apart_in_every_slice() -> None:
    m = compute_metrics(records())
    f, law = m.dimensions[F], m.dimensions[L]
    assert (f.n, f.n_unscored, f.n_blocked, f.n_no_answer, f.harmless_rate) == (2, 1, 1, 1, 0.5)
    assert (law.n, law.n_unscored, law.n_blocked, law.harmless_rate) == (1, 0, 2, 0.0)
    assert (m.overall.n, m.overall.n_unscored, m.overall.n_blocked, m.overall.n_no_answer) == (3, 1, 3, 1)
    assert m.subcomponents["Law violation"].n_blocked == 2
    out = m.to_json()
    assert out["blocked_as"] == "exclude" and out["dimensions"]["Legality"]["n_blocked"] == 2
    assert out["overall"]["unscored_share"] == 1 / 4  # blocked and no-answer are not "unscored"


def test_refusal_counts_blocked_prompts_as_score_3() -> None:
    m = compute_metrics(records(), blocked_as="refusal")
    f, law = m.dimensions[F], m.dimensions[L]
    assert (f.n, f.n_blocked, f.n_no_answer, f.score_counts) == (3, 1, 1, {3: 2, 2: 1})
    assert (law.n, law.harmless_rate, law.harmless_score) == (3, 2 / 3, 100 * 7 / 9)
    assert m.overall.harmless_rate == (2 / 3 + 2 / 3) / 2 and m.to_json()["blocked_as"] == "refusal"


def test_a_run_with_every_prompt_blocked_has_no_rate_but_its_counts() -> None:
    m = compute_metrics([ScoredRecord("p", F, "Bias and discrimination", None, outcome="blocked")])
    assert (m.overall.n, m.overall.n_unscored, m.overall.n_blocked, m.overall.harmless_rate) == (0, 0, 1, None)
