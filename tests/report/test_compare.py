"""`flames compare`: paired differences and flips checked against a hand count over the shared prompts."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import pytest
from report.conftest import add_scorer, write_results
from scipy.stats import binomtest
from typer.testing import CliRunner

from flames.cli import app
from flames.official_format import import_official
from flames.store import Store

runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, prompts: list[dict[str, Any]]) -> dict[str, Any]:
    """Run a and b on the same 500 prompts, b-part on the first 300 of them, judged on b's answers by judge-x."""
    prompts = prompts[::2]
    tmp = tmp_path_factory.mktemp("compare")
    url = f"sqlite:///{tmp / 'c.db'}"
    store = Store(url)
    scores, responses = {}, {}
    for name, rows, seed, p in (("a", prompts, 21, 0.5), ("b", prompts, 22, 0.65), ("b-part", prompts[:300], 22, 0.65)):
        scores[name] = write_results(tmp / f"{name}.jsonl", rows, seed=seed, p_harmless=p, model=f"model-{name}")
        import_official(store, tmp / f"{name}.jsonl", run_name=name)
        rows_out = [
            json.loads(line) for line in (tmp / f"{name}.jsonl").read_text(encoding="utf-8").split("\n") if line
        ]
        responses[name] = {r["prompt"]: r["response"] for r in rows_out}
    write_results(tmp / "judged.jsonl", prompts, seed=23, p_unscored=1.0)
    add_scorer(store, import_official(store, tmp / "judged.jsonl", run_name="judged"), "judge-x", {}, 5, 0.6)
    store.close()
    dims = {row["prompt"]: row["dimension"] for row in prompts}
    return {"url": url, "scores": scores, "responses": responses, "dims": dims}


def compare_json(url: str, a: str, b: str, *extra: str) -> dict[str, Any]:
    out = flames("compare", a, b, "--db", url, "--format", "json", "--excerpt", "0", "--n-boot", "300", *extra)
    return json.loads(out)  # type: ignore[no-any-return]


def test_flips_and_differences_match_a_hand_count(runs: dict[str, Any]) -> None:
    sa, sb, dims = runs["scores"]["a"], runs["scores"]["b"], runs["dims"]
    shared = [p for p in sa if sa[p] is not None and sb.get(p) is not None]
    better = {p for p in shared if sa[p] != 3 and sb[p] == 3}
    worse = {p for p in shared if sa[p] == 3 and sb[p] != 3}
    report = compare_json(runs["url"], "a", "b")

    assert {f["prompt"] for f in report["became_harmless"]} == better
    assert {f["prompt"] for f in report["became_harmful"]} == worse
    for f in report["became_harmless"] + report["became_harmful"]:
        assert (f["score_a"], f["score_b"]) == (sa[f["prompt"]], sb[f["prompt"]])
        assert f["response_a"] == runs["responses"]["a"][f["prompt"]]
        assert f["response_b"] == runs["responses"]["b"][f["prompt"]]
        assert f["dimension"] == dims[f["prompt"]]

    overall = report["overall"]
    assert overall["n_pairs"] == len(shared)
    assert (overall["a_only_harmless"], overall["b_only_harmless"]) == (len(worse), len(better))
    assert overall["test"].startswith("paired sign-flip permutation") and "stratified by dimension" in overall["test"]
    assert 0 < overall["p_value"] <= 1 and 0 < overall["score_p_value"] <= 1

    by_dim: dict[str, list[str]] = defaultdict(list)
    for prompt in shared:
        by_dim[dims[prompt]].append(prompt)
    diffs = []
    for d, ps in by_dim.items():
        got = report["dimensions"][d]
        ha = sum(sa[x] == 3 for x in ps) / len(ps)
        hb = sum(sb[x] == 3 for x in ps) / len(ps)
        hs = 100 * sum(sb[x] - sa[x] for x in ps) / (3 * len(ps))
        assert got["n_pairs"] == len(ps)
        assert (got["harmless_rate_a"], got["harmless_rate_b"]) == pytest.approx((ha, hb))
        assert got["diff_harmless_rate"] == pytest.approx(hb - ha)
        assert got["diff_harmless_score"] == pytest.approx(hs)
        lo, hi = got["diff_harmless_rate_ci"]
        assert lo <= hb - ha <= hi
        only_a = sum(sa[x] == 3 and sb[x] != 3 for x in ps)
        only_b = sum(sb[x] == 3 and sa[x] != 3 for x in ps)
        assert got["test"] == "exact McNemar"  # one answer per prompt in each run
        assert got["p_value"] == pytest.approx(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
        diffs.append(hb - ha)
    assert overall["diff_harmless_rate"] == pytest.approx(sum(diffs) / len(diffs))
    only_a = sum(1 for x in sa if sa[x] is not None) - len(shared)
    only_b = sum(1 for x in sb if sb[x] is not None) - len(shared)
    assert report["same_scorer"] and report["warnings"] == [
        f"compared on the {len(shared)} items both runs scored; {only_a} scored only in A and {only_b} only in B"
        " (unanswered or unscored in the other run) are left out."
    ]
    assert report["a"]["model"] == "model-a" and report["b"]["run"] == "b"


def test_reversed_order_swaps_the_directions(runs: dict[str, Any]) -> None:
    ab, ba = compare_json(runs["url"], "a", "b"), compare_json(runs["url"], "b", "a")
    assert [f["id"] for f in ab["became_harmless"]] == [f["id"] for f in ba["became_harmful"]]
    assert ba["overall"]["diff_harmless_rate"] == pytest.approx(-ab["overall"]["diff_harmless_rate"])


def test_only_shared_prompts_are_paired_and_the_rest_is_reported(runs: dict[str, Any]) -> None:
    sa, sp = runs["scores"]["a"], runs["scores"]["b-part"]
    report = compare_json(runs["url"], "a", "b-part")
    shared = [p for p in sa if sa[p] is not None and sp.get(p) is not None]
    assert report["overall"]["n_pairs"] == len(shared)
    assert report["unpaired"]["only_in_a"] == sum(1 for p in sa if sa[p] is not None) - len(shared)
    assert any("left out" in w for w in report["warnings"])


def test_different_scorers_are_flagged(runs: dict[str, Any]) -> None:
    report = compare_json(runs["url"], "a", "judged")
    assert not report["same_scorer"]
    assert any("different scorers" in w and "judge-x@" in w for w in report["warnings"])


def test_table_and_markdown_list_both_directions(runs: dict[str, Any]) -> None:
    report = compare_json(runs["url"], "a", "b")
    n_up, n_down = len(report["became_harmless"]), len(report["became_harmful"])
    md = flames("compare", "a", "b", "--db", runs["url"], "--format", "markdown", "--n-boot", "100", "--max-flips", "5")
    assert f"Became harmless in B (improvements) B 中变为无害: {n_up}" in md
    assert f"Became harmful in B (regressions) B 中不再无害: {n_down}" in md
    assert f"and {n_up - 5} more" in md and f"and {n_down - 5} more" in md
    assert sum(1 for line in md.splitlines() if re.match(r"\| [0-9a-f]{16} \|", line)) == 10
    wide = runner.invoke(app, ["compare", "a", "b", "--db", runs["url"], "--n-boot", "100"], env={"COLUMNS": "250"})
    assert wide.exit_code == 0, wide.output
    overall = next(line for line in wide.output.splitlines() if "Overall 总体" in line)
    o = report["overall"]
    assert f" {o['n_prompts']} / {o['n_pairs']} " in overall and "p (Δ rate)" in wide.output
    assert "exact McNemar where every prompt has one pair" in wide.output  # the methods are named under the table
    assert f"improvements) B 中变为无害: {n_up}" in wide.output
