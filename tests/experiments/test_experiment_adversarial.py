"""`flames experiment adversarial-vs-plain`: pairing by intent, the paired gap, whole-set comparison, and the
CLI that collects both sets from a model, scores them and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from experiment_support import judge_run, stored_run, write_prompts
from scoring_support import ChatServer, model_and_judge, rubric
from typer.testing import CliRunner

from flames.cli import app
from flames.experiments.adversarial import PAIRED, WHOLE, PairingError, adversarial_vs_plain, paired_records
from flames.metrics import BootstrapConfig
from flames.records import ScoredRecord
from flames.store import Store
from flames.taxonomy import Dimension

runner = CliRunner()
BOOT = BootstrapConfig(n_boot=300)
SAFETY = ("Safety", "Physical harm")
FAIRNESS = ("Fairness", "Bias and discrimination")


def rows(kind: str, n: int, variants: int = 1, intent: bool = True) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        dim, sub = SAFETY if i % 2 == 0 else FAIRNESS
        for v in range(variants):
            row = {"id": f"{kind}{i}-{v}", "dimension": dim, "subcomponent": sub, "prompt": f"{kind} 请求{i} 变体{v}",
                   "attack_method": ("disguise", "goal_hijacking")[v % 2] if kind == "adv" else ""}  # fmt: skip
            if intent:
                row["intent"] = f"i{i}"
            out.append({k: v for k, v in row.items() if v})
    return out


def test_paired_records_rekey_by_intent_and_count_what_cannot_pair() -> None:
    def rec(pid: str, score: int, dim: Dimension = Dimension.SAFETY) -> ScoredRecord:
        return ScoredRecord(pid, dim, "Physical harm" if dim == Dimension.SAFETY else "Toxic language", score)

    plain = [rec("p1", 3), rec("p2", 3)]
    adv = [rec("a1", 1), rec("a2", 3), rec("a3", 1, Dimension.FAIRNESS), rec("a4", 1), rec("a5", 1)]
    a_side, b_side, lost = paired_records(plain, adv, {"p1": "x", "p2": "y"},
                                          {"a1": "x", "a2": "x", "a3": "y", "a4": "z"})  # fmt: skip
    assert [(r.prompt_id, r.sample_index, r.score) for r in a_side] == [("x", 0, 3), ("x", 1, 3)]
    assert [(r.prompt_id, r.sample_index, r.score) for r in b_side] == [("x", 0, 1), ("x", 1, 3)]
    assert lost == {"adversarial_without_intent": 1, "adversarial_without_plain": 1, "dimension_mismatch": 1}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'f.db'}")


def test_gap_paired_by_intent(store: Store, tmp_path: Path) -> None:
    plain = write_prompts(tmp_path / "plain.jsonl", rows("plain", 20))
    adv = write_prompts(tmp_path / "adv.jsonl", rows("adv", 20, variants=2))
    judge_run(store, stored_run(store, "m@plain", plain, ["答"] * 20, model="openai:m"), [3] * 20)
    # 40 adversarial answers: every variant 0 of an intent is harmful, variant 1 is not
    judge_run(store, stored_run(store, "m@adv", adv, ["答"] * 40, model="openai:m"), [1, 3] * 20)
    res = adversarial_vs_plain(store, [("m@adv", "m@plain")], boot=BOOT)
    (m,) = res.results["models"]
    assert res.results["mode"] == PAIRED and (m["n_pairs"], m["n_intents"]) == (40, 20)
    assert (m["model"], m["model_spec"]) == ("m", "openai:m")  # the name the two runs share
    assert m["overall"]["harmless_rate_plain"] == 1.0 and m["overall"]["harmless_rate_adversarial"] == 0.5
    assert m["overall"]["gap"]["value"] == pytest.approx(-0.5)
    lo, hi = m["overall"]["gap"]["ci"]
    assert lo <= -0.5 <= hi and hi < 0
    # every intent has two pairs, so its pairs are tested together: a sign-flip test with intents as clusters
    assert m["overall"]["p_value"] < 1e-3 and "sign-flip" in m["overall"]["test"]
    assert set(m["dimensions"]) == {"Safety", "Fairness"}
    assert m["dimensions"]["Safety"]["n"] == 20
    # variant 0 (disguise) is always harmful, variant 1 (goal_hijacking) never
    assert m["attack_methods"]["disguise"]["gap"]["value"] == -1.0 and m["attack_methods"]["disguise"]["n"] == 20
    assert m["attack_methods"]["goal_hijacking"]["gap"]["value"] == 0.0
    assert not res.warnings


def test_whole_sets_without_intents(store: Store, tmp_path: Path) -> None:
    plain = write_prompts(tmp_path / "plain.jsonl", rows("plain", 20, intent=False))
    adv = write_prompts(tmp_path / "adv.jsonl", rows("adv", 30, intent=False))
    judge_run(store, stored_run(store, "m@plain", plain, ["答"] * 20, model="openai:m"), [3] * 20)
    judge_run(store, stored_run(store, "m@adv", adv, ["答"] * 30, model="openai:m"), [1, 3, 3] * 10)
    res = adversarial_vs_plain(store, [("m@adv", "m@plain")], boot=BOOT)
    (m,) = res.results["models"]
    assert res.results["mode"] == WHOLE and (m["n_plain"], m["n_adversarial"]) == (20, 30)
    safety = m["dimensions"]["Safety"]
    assert safety["harmless_rate_plain"] == 1.0 and safety["gap"]["value"] == pytest.approx(
        sum(s == 3 for i, s in enumerate([1, 3, 3] * 10) if i % 2 == 0) / 15 - 1)
    assert m["overall"]["dimensions_included"] == ["Fairness", "Safety"]
    assert any("independently" in n for n in res.notes)


def test_pairs_must_come_from_one_model(store: Store, tmp_path: Path) -> None:
    plain = write_prompts(tmp_path / "plain.jsonl", rows("plain", 4))
    adv = write_prompts(tmp_path / "adv.jsonl", rows("adv", 4))
    judge_run(store, stored_run(store, "a@plain", plain, ["答"] * 4, model="openai:a"), [3] * 4)
    judge_run(store, stored_run(store, "b@adv", adv, ["答"] * 4, model="openai:b"), [3] * 4)
    with pytest.raises(PairingError, match="same model"):
        adversarial_vs_plain(store, [("b@adv", "a@plain")], boot=BOOT)


def test_cli_collects_scores_and_resumes(tmp_path: Path) -> None:
    plain = write_prompts(tmp_path / "plain.jsonl", rows("plain", 6))
    adv = write_prompts(tmp_path / "adv.jsonl", rows("adv", 6, variants=2))
    db = f"sqlite:///{tmp_path / 'f.db'}"
    out = tmp_path / "avp"
    with ChatServer(reply=model_and_judge) as server:
        args = ["experiment", "adversarial-vs-plain", "--adversarial", str(adv), "--plain", str(plain),
                "--model", "openai:m", "--base-url", server.base_url, "--scorer", "judge:openai:j",
                "--judge-base-url", server.base_url, "--max-retries", "0", "--db", db, "--out", str(out),
                "--n-boot", "200", "--no-progress"]  # fmt: skip
        first = runner.invoke(app, args, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        judged = sum(b["messages"][0]["content"] == rubric.SYSTEM for b in server.bodies)
        assert (server.requests, judged) == (2 * 18, 18)  # 18 answers, 18 judgments
        again = runner.invoke(app, args, catch_exceptions=False)
        assert again.exit_code == 0 and server.requests == 36  # nothing asked twice
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    (m,) = data["results"]["models"]
    assert data["results"]["mode"] == PAIRED and m["n_pairs"] == 12
    assert m["adversarial_run"] == "openai-m@adv" and m["plain_run"] == "openai-m@plain"
    assert m["scorer"].startswith("judge:openai:j@")
    existing = runner.invoke(app, ["experiment", "adversarial-vs-plain", "--adversarial-run", "openai-m@adv",
                                   "--plain-run", "openai-m@plain", "--db", db, "--out", str(tmp_path / "x"),
                                   "--no-html"], catch_exceptions=False)  # fmt: skip
    assert existing.exit_code == 0, existing.output
    wrong = runner.invoke(app, ["experiment", "adversarial-vs-plain", "--adversarial-run", "x", "--db", db])
    assert wrong.exit_code == 2 and "as many --adversarial-run as --plain-run" in " ".join(wrong.output.split())
