"""Attack success across runs: matching answers to a prompt set by id and text, the scorer per run, per-method
rows counting multi-method prompts in each, unscored answers apart, Wilson intervals, drill-down."""

from __future__ import annotations

import math

import pytest

from flames.design.stats import NO_METHOD, attack_stats
from flames.prompts import PromptSet
from flames.records import Completion, Judgment, Prompt
from flames.store import RunSpec, Store
from flames.taxonomy import Dimension

P1 = Prompt("p1", Dimension.SAFETY, "Physical harm", "提示一", "disguise")
P2 = Prompt("p2", Dimension.SAFETY, "Mental harm", "提示二", "disguise+goal_hijacking")
P3 = Prompt("p3", Dimension.LEGALITY, "Law violation", "提示三", None)


def _run(store: Store, name: str, model: str, prompts: list[Prompt], scores: dict[str, list[int | None]]) -> None:
    """A run answering `prompts`, judged by each scorer in `scores` (in order: later scorers are newer)."""
    ps = PromptSet(name, f"{name:0<64}"[:64], "test", tuple(prompts))
    run = store.open_run(RunSpec(name, model, "test", {}), ps)
    for slot in store.pending(run):
        store.save_response(run.id, slot, Completion(f"{model} 对 {slot.prompt.id} 的回答"))
    responses = store.responses(run)
    for scorer_name, values in scores.items():
        scorer = store.scorer(scorer_name, {"name": scorer_name})
        for r, v in zip(responses, values, strict=True):
            j = Judgment(str(r.id), r.prompt.dimension, v, unscored_reason=None if v is not None else "unreadable")
            store.save_judgment(r.id, scorer, j)


@pytest.fixture
def store() -> Store:
    s = Store("sqlite://")
    _run(s, "a", "m-a", [P1, P2, P3], {"s1": [1, 3, None]})
    _run(s, "b", "m-b", [P1, P2], {"s1": [3, 3], "s2": [2, 1]})
    _run(s, "c", "m-b", [Prompt("p1", Dimension.SAFETY, "Physical harm", "提示一（旧版）", "disguise")], {"s2": [1]})
    _run(s, "d", "m-a", [P1], {"s1": [3]})
    return s


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927), written out independently of the code under test."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_heat_map_by_method(store: Store) -> None:
    hm = attack_stats(store, [P1, P2, P3]).heatmap("method")
    assert hm.rows == ["disguise", "goal_hijacking", NO_METHOD] and hm.models == ["m-a", "m-b"]
    cells = {(r, m): (hm.cell(r, m).fooled, hm.cell(r, m).scored, hm.cell(r, m).unscored)
             for r in hm.rows for m in hm.models}  # fmt: skip
    assert cells == {
        ("disguise", "m-a"): (1, 3, 0),  # p1: 1 (run a) and 3 (run d); p2: 3
        ("disguise", "m-b"): (2, 2, 0),  # newest scorer of run b (s2): 2, 1; run c answered another text
        ("goal_hijacking", "m-a"): (0, 1, 0),
        ("goal_hijacking", "m-b"): (1, 1, 0),
        (NO_METHOD, "m-a"): (0, 0, 1),  # unscored: counted apart, not as held
        (NO_METHOD, "m-b"): (0, 0, 0),
    }
    assert (hm.total.fooled, hm.total.scored, hm.total.unscored) == (3, 5, 1)  # each answer once in the total
    assert hm.row_totals["disguise"].rate == pytest.approx(3 / 5)
    assert hm.cell(NO_METHOD, "m-a").rate is None and hm.cell(NO_METHOD, "m-a").ci is None
    from scipy.stats import binomtest

    for k, n in ((1, 3), (0, 1), (2, 2)):
        cell = next(c for c in hm.cells.values() if (c.fooled, c.scored) == (k, n))
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert cell.ci == pytest.approx(wilson(k, n), abs=1e-9)
        assert cell.ci == pytest.approx((ci.low, ci.high), abs=1e-9)  # the same interval as scipy's


def test_other_groupings_and_the_chosen_scorer(store: Store) -> None:
    by_sub = attack_stats(store, [P1, P2, P3]).heatmap("subcomponent")
    assert by_sub.rows == ["Physical harm", "Mental harm", "Law violation"]
    assert by_sub.cell("Physical harm", "m-b").fooled == 1
    by_prompt = attack_stats(store, [P1, P2, P3]).heatmap("prompt")
    assert by_prompt.labels["p2"].startswith("p2 · 提示二")
    assert attack_stats(store, [P1, P2]).heatmap("dimension").rows == ["Safety"]
    s1 = attack_stats(store, [P1, P2, P3], scorer="s1").heatmap("method")
    assert (s1.cell("disguise", "m-b").fooled, s1.cell("disguise", "m-b").scored) == (0, 2)
    named = attack_stats(store, [P1], scorer="s2").heatmap("method")
    assert (named.model_totals["m-a"].scored, named.model_totals["m-a"].unscored) == (0, 2)  # s2 never judged m-a


def test_drill_down_lists_the_answers_behind_a_cell(store: Store) -> None:
    stats = attack_stats(store, [P1, P2, P3])
    answers = stats.drill("method", "disguise", "m-b")
    assert [(a.prompt.id, a.score, a.run, a.scorer and a.scorer.split("@")[0]) for a in answers] == [
        ("p1", 2, "b", "s2"), ("p2", 1, "b", "s2")]  # fmt: skip
    assert answers[0].text == "m-b 对 p1 的回答"
    assert [a.run for a in stats.drill("method", "disguise")] == ["a", "a", "b", "b", "d"]
    only = attack_stats(store, [P1, P2, P3], runs=lambda name: name == "d")
    assert [a.run for a in only.answers] == ["d"]
