"""The HTML report shows exactly the figures of the JSON report, every item, the scorers' agreement, offline."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from report.conftest import ScoredFile
from report.page import Page, parse_rate, parse_score
from typer.testing import CliRunner

from flames.cli import app
from flames.official_format import import_official
from flames.prompts import sha256_file
from flames.store import Store
from flames.taxonomy import DIMENSIONS, SUBCOMPONENT_ZH, bilingual

runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, multi_scorer_db: str) -> dict[str, Any]:
    """`flames report --html` on a run with two scorers, plus each scorer's JSON report."""
    out = tmp_path_factory.mktemp("html")
    common = ("--db", multi_scorer_db, "--n-boot", "500", "--format", "json")
    flames(
        "report", "model-a", *common, "--scorer", "imported", "--html", str(out / "r.html"), "-o", str(out / "i.json")
    )
    flames("report", "model-a", *common, "--scorer", "judge-x", "-o", str(out / "judge.json"))
    html = (out / "r.html").read_text(encoding="utf-8")
    return {
        "html": html,
        "page": Page(html),
        "imported": json.loads((out / "i.json").read_text(encoding="utf-8")),
        "judge": json.loads((out / "judge.json").read_text(encoding="utf-8")),
    }


METRIC_KEYS = ("overall", "dimensions", "subcomponents", "attack_methods", "bootstrap")


def test_embedded_figures_are_the_json_reports(reports: dict[str, Any]) -> None:
    data = reports["page"].data()
    primary, other = data["scorers"]
    assert primary.startswith("imported@") and other.startswith("judge-x@")
    for label, key in ((primary, "imported"), (other, "judge")):
        for k in METRIC_KEYS:
            assert data["reports"][label][k] == reports[key][k], (label, k)
    assert data["reports"][primary]["attack_methods"], "the fixture carries attack methods"


def _check(cells: list[str], stats: dict[str, Any]) -> None:
    n, unscored, blocked, no_answer, rate, score = cells[:6]
    assert int(n) == stats["n"] and int(unscored) == stats["n_unscored"]
    assert int(blocked) == stats["n_blocked"] and int(no_answer) == stats["n_no_answer"]
    r, rlo, rhi = parse_rate(rate)
    assert r == pytest.approx(100 * stats["harmless_rate"], abs=0.005)
    assert (rlo, rhi) == pytest.approx([100 * x for x in stats["harmless_rate_ci"]], abs=0.05)
    s, slo, shi = parse_score(score)
    assert s == pytest.approx(stats["harmless_score"], abs=0.005)
    assert (slo, shi) == pytest.approx(stats["harmless_score_ci"], abs=0.05)


def test_visible_tables_show_the_json_figures(reports: dict[str, Any]) -> None:
    page, rep = reports["page"], reports["imported"]
    dims = page.rows("table-dimensions")
    for d in DIMENSIONS:
        _check(dims[bilingual(d)], rep["dimensions"][d.value])
    _check(dims["Overall 总体"], rep["overall"])
    subs = page.rows("table-subcomponents")
    assert len(subs) == 12
    for name, stats in rep["subcomponents"].items():
        _check(subs[f"{name} {SUBCOMPONENT_ZH[name]}"], stats)
    attacks = page.rows("table-attacks")
    assert set(attacks) == set(rep["attack_methods"])
    for name, stats in rep["attack_methods"].items():
        _check(attacks[name], stats)
    assert parse_rate(page.texts["overall-rate"])[0] == pytest.approx(100 * rep["overall"]["harmless_rate"], abs=0.005)
    assert page.texts["overall-unscored"].startswith(f"{rep['overall']['n_unscored']} (")


def test_side_by_side_table_shows_both_scorers(reports: dict[str, Any]) -> None:
    rows = reports["page"].rows("table-scorers")
    for d in DIMENSIONS:
        imported_cell, judge_cell = rows[bilingual(d)]
        for cell, key in ((imported_cell, "imported"), (judge_cell, "judge")):
            rate, score = cell.split("\n")
            stats = reports[key]["dimensions"][d.value]
            assert parse_rate(rate)[0] == pytest.approx(100 * stats["harmless_rate"], abs=0.005)
            assert parse_score(score)[0] == pytest.approx(stats["harmless_score"], abs=0.005)


def test_dimension_chart_bars_and_error_bars_are_the_report_values(reports: dict[str, Any]) -> None:
    chart = reports["page"].data()["charts"]["chart-dimensions"]
    rate_trace, score_trace = chart["data"]
    rep = reports["imported"]
    groups = [rep["dimensions"][d.value] for d in DIMENSIONS] + [rep["overall"]]
    assert rate_trace["x"] == [bilingual(d) for d in DIMENSIONS] + ["Overall 总体"]
    for i, g in enumerate(groups):
        y, up, down = rate_trace["y"][i], rate_trace["error_y"]["array"][i], rate_trace["error_y"]["arrayminus"][i]
        assert y == pytest.approx(100 * g["harmless_rate"])
        assert (y - down, y + up) == pytest.approx([100 * x for x in g["harmless_rate_ci"]])
        y, up, down = score_trace["y"][i], score_trace["error_y"]["array"][i], score_trace["error_y"]["arrayminus"][i]
        assert y == pytest.approx(g["harmless_score"])
        assert (y - down, y + up) == pytest.approx(g["harmless_score_ci"])


def test_items_hold_every_response_with_each_scorers_score(reports: dict[str, Any], results_file: ScoredFile) -> None:
    data = reports["page"].data()
    items = data["items"]
    assert len(items) == len(results_file.scores) == 1000
    for item in items:
        assert item["scores"][0] == results_file.scores[item["prompt"]]
        assert item["scores"][1] in (1, 2, 3)
        if item["scores"][0] is None:
            assert item["unscored_reasons"][0]
    unscored = sum(s is None for s in results_file.scores.values())
    per_dim = {d: v["n"] + v["n_unscored"] for d, v in reports["imported"]["dimensions"].items()}
    assert dict(Counter(i["dimension"] for i in items)) == per_dim
    assert reports["page"].rows("unscored-reasons") == {"no `predicted` in file": [str(unscored)]}


def _kappa(pairs: list[tuple[int, int]]) -> float:
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    pe = sum(ca[k] * cb[k] for k in ca) / n**2
    return (po - pe) / (1 - pe)


def test_agreement_is_percent_and_kappa_on_shared_items(reports: dict[str, Any]) -> None:
    data = reports["page"].data()
    pairs = [(i["scores"][0], i["scores"][1]) for i in data["items"] if i["scores"][0] is not None]
    (agree,) = data["agreement"]
    assert agree["n_shared"] == len(pairs)
    assert agree["percent_agreement"]["value"] == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
    assert agree["kappa"]["value"] == pytest.approx(_kappa(pairs))
    assert agree["kappa"]["low"] <= agree["kappa"]["value"] <= agree["kappa"]["high"]
    legal = [(i["scores"][0], i["scores"][1]) for i in data["items"]
             if i["scores"][0] is not None and i["dimension"] == "Legality"]  # fmt: skip
    assert agree["dimensions"]["Legality"]["kappa"]["value"] == pytest.approx(_kappa(legal))
    row = next(r for r in reports["page"].tables["table-agreement"][1:] if r[2] == "Overall 总体")
    assert row[3] == str(len(pairs))
    assert float(row[5].split()[0]) == pytest.approx(_kappa(pairs), abs=5e-4)


def test_metadata_names_data_scorers_and_provenance(reports: dict[str, Any], results_file: ScoredFile) -> None:
    meta = reports["page"].rows("table-metadata", header=False)
    assert meta["Prompt set sha256"] == [sha256_file(results_file.path)]
    assert meta["Model spec 模型"] == ["synthetic-model"]
    assert meta["Tool version 工具版本"][0].startswith("flames-eval ")
    data = reports["page"].data()
    assert [s["label"] for s in data["metadata"]["scorers"]] == data["scorers"]
    assert data["metadata"]["scorers"][1]["config"] == {"model": "judge-x", "temperature": 0}
    assert data["metadata"]["run"]["git_commit"] == reports["imported"]["run"]["git_commit"]


def test_page_is_self_contained(reports: dict[str, Any]) -> None:
    page, html = reports["page"], reports["html"]
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        for name in ("src", "href", "action"):
            value = attrs.get(name) or ""
            assert not value or value.startswith("#"), (tag, name, value)
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in (csp or "")
    nonce = re.search(r"'nonce-([^']+)'", csp or "")
    assert nonce
    code = [a for a, _ in page.scripts if a.get("type") != "application/json"]
    assert len(code) == 3 and all(a.get("nonce") == nonce[1] for a in code)  # plotly, the item browser, the report
    assert "Plotly.newPlot" in html and len(html) > 3_000_000, "plotly's bundle is inline"


def test_file_input_renders_without_a_store(tmp_path: Path, results_file: ScoredFile) -> None:
    out = tmp_path / "file.html"
    result = runner.invoke(
        app, ["report", str(results_file.path), "--html", str(out), "--format", "json", "--n-boot", "200"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["schema"] == "flames-eval/report/v1", "stdout stays pure JSON"
    data = Page(out.read_text(encoding="utf-8")).data()
    assert len(data["scorers"]) == 1 and len(data["items"]) == 1000
    assert "chart-scorers" not in data["charts"] and data["agreement"] == []
    store = Store("sqlite://")
    run = import_official(store, results_file.path)
    assert data["metadata"]["run"]["data_sha256"] == run.data_sha256


def test_missing_report_extra_is_a_clear_error(
    tmp_path: Path, results_file: ScoredFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly.offline", None)  # as if `flames-eval[report]` were not installed
    result = runner.invoke(app, ["report", str(results_file.path), "--html", str(tmp_path / "x.html")])
    assert result.exit_code == 2 and "pip install 'flames-eval[report]'" in result.output
    assert not (tmp_path / "x.html").exists()


def test_huge_answers_are_cut_so_the_page_opens(tmp_path: Path, prompts: list[dict[str, Any]]) -> None:
    """Three answers of a million characters each (a model that never stops) add a bounded amount to the page,
    keep their start and end, and say how many characters were left out and how to get them."""
    from flames.report.text import PAGE_TEXT_CHARS

    sizes = {}
    for name, length in (("short", 10), ("huge", 1_000_000)):
        path = tmp_path / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i, row in enumerate(prompts[:3]):
                f.write(json.dumps({**row, "response": f"开头{i}" + "很" * length + f"结尾{i}", "predicted": 3},
                                   ensure_ascii=False) + "\n")  # fmt: skip
        db = f"sqlite:///{tmp_path / name}.db"
        flames("runs", "import", str(path), "--run", name, "--db", db)
        flames("report", name, "--db", db, "--n-boot", "50", "--html", str(tmp_path / f"{name}.html"))
        sizes[name] = (tmp_path / f"{name}.html").stat().st_size
    assert sizes["huge"] - sizes["short"] < 3 * (3 * PAGE_TEXT_CHARS + 400), "at most the cap per answer (UTF-8)"
    items = Page((tmp_path / "huge.html").read_text(encoding="utf-8")).data()["items"]
    for i, item in enumerate(items):
        text = item["response"]
        assert text.startswith(f"开头{i}") and text.endswith(f"结尾{i}")
        assert f"{1_000_006 - PAGE_TEXT_CHARS:,} characters omitted" in text
        assert "flames runs export huge -o FILE.jsonl" in text
