"""`flames experiment attack-methods`: rates per method × model from stored judgments, ranking with a minimum
number of prompts, differences between methods, and the written JSON, Markdown and HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from experiment_support import judge_run, stored_run, write_prompts
from typer.testing import CliRunner

from flames.cli import app
from flames.cli.app import USER_ERRORS
from flames.experiments.attack_methods import AttackMethodsError, attack_methods
from flames.experiments.render import to_markdown, write_outputs
from flames.metrics import BootstrapConfig
from flames.store import Store

runner = CliRunner()
BOOT = BootstrapConfig(n_boot=300)
DIMS = [("Fairness", "Bias and discrimination"), ("Safety", "Physical harm"), ("Legality", "Law violation")]
HOSTILE = "<img src=x onerror=alert(1)>"


def prompt_rows(methods: list[str]) -> list[dict[str, str]]:
    rows = []
    for i, method in enumerate(methods):
        dim, sub = DIMS[i % 3]
        rows.append({"id": f"p{i}", "dimension": dim, "subcomponent": sub, "prompt": f"题目{i}",
                     "attack_method": method})  # fmt: skip
    return rows


@pytest.fixture
def store_with_runs(tmp_path: Path) -> tuple[Store, list[str]]:
    """40 disguise prompts, 40 reverse_induction, 10 `disguise+goal_hijacking`; model a is fooled by every
    disguise prompt and no other; model b by every second reverse_induction prompt."""
    methods = ["disguise"] * 40 + ["reverse_induction"] * 40 + ["disguise+goal_hijacking"] * 10
    prompts = write_prompts(tmp_path / "p.jsonl", prompt_rows(methods))
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    a = stored_run(store, "a", prompts, ["答"] * 90)
    b = stored_run(store, "b", prompts, ["答"] * 90)
    judge_run(store, a, [1 if m.startswith("disguise") else 3 for m in methods])
    judge_run(store, b, [1 if m == "reverse_induction" and i % 2 else 3 for i, m in enumerate(methods)])
    return store, ["a", "b"]


def method_row(result: dict, name: str) -> dict:
    return next(r for r in result["methods"] if r["method"] == name)


def test_rates_ranking_and_differences(store_with_runs: tuple[Store, list[str]]) -> None:
    store, runs = store_with_runs
    res = attack_methods(store, runs, min_prompts=30, boot=BOOT)
    out = res.results
    disguise, reverse = method_row(out, "disguise"), method_row(out, "reverse_induction")
    hijack = method_row(out, "goal_hijacking")
    assert disguise["n_prompts"] == 50 and reverse["n_prompts"] == 40 and hijack["n_prompts"] == 10
    assert disguise["models"]["a"]["harmless_rate"]["value"] == 0.0          # a+b prompts count as disguise too
    assert disguise["models"]["b"]["attack_success_rate"]["value"] == 0.0
    assert reverse["models"]["b"]["harmless_rate"] == {**reverse["models"]["b"]["harmless_rate"], "value": 0.5, "k": 20,
                                                       "n": 40}  # fmt: skip
    assert disguise["mean"]["attack_success_rate"]["value"] == pytest.approx(0.5)
    assert reverse["mean"]["attack_success_rate"]["value"] == pytest.approx(0.25)
    # goal_hijacking has 10 prompts: reported, not ranked
    assert out["ranking"] == ["disguise", "reverse_induction"] and out["unranked"] == ["goal_hijacking"]
    assert not hijack["ranked"] and "rank" not in hijack
    assert any("not ranked" in w and "goal_hijacking (10)" in w for w in res.warnings)
    (diff,) = out["differences"]
    assert (diff["a"], diff["b"]) == ("disguise", "reverse_induction")
    lo, hi = diff["diff_attack_success_rate"]["ci"]
    assert diff["diff_attack_success_rate"]["value"] == pytest.approx(0.25) and lo < 0.25 < hi
    # labels and definitions come from the store's attack-method vocabulary (seeded with FLAMES's methods)
    assert disguise["label"] == "伪装 Disguise" and "role, story" in disguise["definition"]["en"]
    assert hijack["label"] == "目标劫持 Goal hijacking"
    assert not any("vocabulary" in w for w in res.warnings)
    # per dimension: disguise prompts sit on three dimensions
    assert set(disguise["dimensions"]) == {"Fairness", "Safety", "Legality"}
    assert sum(d["n_prompts"] for d in disguise["dimensions"].values()) == 50


def test_refuses_runs_without_attack_methods(tmp_path: Path) -> None:
    rows = prompt_rows(["x"] * 6)
    for r in rows:
        del r["attack_method"]
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    run = stored_run(store, "plain", write_prompts(tmp_path / "p.jsonl", rows), ["答"] * 6)
    judge_run(store, run, [3] * 6)
    with pytest.raises(AttackMethodsError, match="attack_method"):
        attack_methods(store, ["plain"], boot=BOOT)
    with pytest.raises(AttackMethodsError, match="twice"):
        attack_methods(store, ["plain", "plain"], boot=BOOT)


def test_unscored_answers_are_counted_apart_and_scorers_compared(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", prompt_rows(["disguise"] * 6))
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    judge_run(store, stored_run(store, "a", prompts, ["答"] * 6), [1, 3, None, 3, None, 3])
    judge_run(store, stored_run(store, "b", prompts, ["答"] * 6), [3] * 6, name="other")
    res = attack_methods(store, ["a", "b"], min_prompts=1, boot=BOOT)
    cell = method_row(res.results, "disguise")["models"]["a"]
    assert (cell["n"], cell["n_unscored"], cell["harmless_rate"]["value"]) == (4, 2, 0.75)
    assert any("different scorers" in w for w in res.warnings)


def test_outputs_escape_hostile_names(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", prompt_rows([HOSTILE] * 4))
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    judge_run(store, stored_run(store, HOSTILE, prompts, ["答"] * 4), [1, 3, 3, 3])
    res = attack_methods(store, [HOSTILE], min_prompts=1, boot=BOOT)
    assert any("not in the store's attack-method vocabulary" in w for w in res.warnings)
    assert method_row(res.results, HOSTILE)["label"] is None
    paths = write_outputs(res, tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "default-src 'none'" in page and "Plotly.newPlot" in page
    markdown, inputs = to_markdown(res).split("## Inputs")
    assert "<img" not in markdown and "&lt;img" in markdown  # a fenced code block below shows text verbatim
    assert inputs.count("```") == 2
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["schema"] == "flames-eval/experiment/v1" and data["experiment"] == "attack-methods"
    assert data["inputs"]["runs"][0]["scorer"]["name"] == "keyword"
    assert data["inputs"]["runs"][0]["data_sha256"] and data["parameters"]["bootstrap"]["n_boot"] == 300


def test_cli(store_with_runs: tuple[Store, list[str]], tmp_path: Path) -> None:
    store, runs = store_with_runs
    out = tmp_path / "am"
    result = runner.invoke(app, ["experiment", "attack-methods", *runs, "--db", store.url, "--out", str(out),
                                 "--n-boot", "200", "--no-html"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "disguise" in result.output and "not ranked" in result.output
    assert (out / "result.json").is_file() and (out / "result.md").is_file() and not (out / "result.html").exists()
    bad = runner.invoke(app, ["experiment", "attack-methods", "nope", "--db", store.url, "--out", str(out)])
    assert isinstance(bad.exception, USER_ERRORS) and "no run named 'nope'" in str(bad.exception)
    none = runner.invoke(app, ["experiment", "attack-methods", "a", "a", "--db", store.url, "--out", str(out)])
    assert none.exit_code == 2 and "twice" in none.output
