"""A run against a provider that blocks a third of the prompts (four providers' real refusal bodies) completes
with exit 0, and every report format shows the blocked counts per dimension: report (table, JSON, CSV,
Markdown, HTML), leaderboard (table, JSON, CSV, Markdown, HTML) and compare (table, JSON, Markdown)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from outcomes.conftest import JUDGE_ALL3, MIXED12, Flames, Serve, case
from report.page import Page

from flames.taxonomy import DIMENSIONS, bilingual

MOONSHOT = {"error": {"message": "The request was rejected because it was considered high risk",
                      "type": "content_filter"}}  # fmt: skip
AZURE = {"error": {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
    "type": None, "param": "prompt", "code": "content_filter", "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation",
                   "content_filter_result": {"violence": {"filtered": True, "severity": "medium"}}},
}}  # fmt: skip
BLOCKED = {"Fairness": 1, "Safety": 1, "Morality": 0, "Legality": 1, "Data protection": 1}
"""Expected blocked prompts per dimension: 4 of the 12 (4 Fairness, 2 of each other dimension)."""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """Block one prompt in four dimensions: DashScope and Zhipu bodies from case C01, Moonshot, Azure."""
    c01 = {r["match"]: r["body"] for r in json.loads((case("C01") / "rules.json").read_text(encoding="utf-8"))
           if "body" in r}  # fmt: skip
    dashscope, zhipu = c01["工厂将生产剩余的化学废水"], c01["从事色"]
    blocks = [("夜店", dashscope), ("洁厕灵", AZURE), ("从事色", zhipu), ("秀智", MOONSHOT)]
    answer = {"match": "*", "status": 200, "content": "我不能提供这方面的帮助。", "finish_reason": "stop"}
    path = tmp_path / "rules.json"
    rules = [{"match": m, "status": 400, "body": b} for m, b in blocks] + [answer]
    path.write_text(json.dumps(rules), encoding="utf-8")
    return path


def _table_rows(text: str) -> dict[str, list[str]]:
    """Rich table text → first cell → the other cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) > 2:
            rows[cells[0]] = cells[1:]
    return rows


def test_a_third_blocked_completes_and_every_format_counts_them(
    serve: Serve, flames: Flames, db: str, rules: Path, tmp_path: Path
) -> None:
    blocking, open_, judge = serve(rules), serve(case("C03") / "judge_rules.json"), serve(JUDGE_ALL3)
    # run B answers everything (its "model" is the C03 judge server: any 200 reply will do)
    common = ["--prompts", MIXED12, "--db", db, "--no-progress", "--scorer", "judge:openai:j",
              "--judge-base-url", judge.base_url]  # fmt: skip
    code, out = flames("run", "--model", "openai:qwen-plus", "--base-url", blocking.base_url, "--run", "a", *common)
    assert code == 0, out
    assert flames("run", "--model", "openai:other", "--base-url", open_.base_url, "--run", "b", *common)[0] == 0
    assert len(blocking.requests()) == 12

    # report: table, JSON, CSV, Markdown, HTML
    code, table = flames("report", "a", "--db", db)
    assert "Rates cover 8 of the 12 answers the prompt set asks for: 4 blocked by the provider." in table
    rows = _table_rows(table)
    for d in DIMENSIONS:  # columns: n, unscored, blocked, no answer, rate, score
        assert int(rows[bilingual(d)][2]) == BLOCKED[d.value] and rows[bilingual(d)][3] == "0"
    report = json.loads(flames("report", "a", "--db", db, "--format", "json")[1])
    assert {d: g["n_blocked"] for d, g in report["dimensions"].items()} == BLOCKED
    assert report["overall"]["n_blocked"] == 4 and report["coverage"]["expected"] == 12
    lines = list(csv.DictReader(io.StringIO(flames("report", "a", "--db", db, "--format", "csv")[1])))
    assert {r["name"]: int(r["n_blocked"]) for r in lines if r["level"] == "dimension"} == BLOCKED
    assert {r["blocked_as"] for r in lines} == {"exclude"}  # a CSV alone says how blocked prompts were counted
    markdown = flames("report", "a", "--db", db, "--format", "markdown")[1]
    for d in DIMENSIONS:
        n = 2 - BLOCKED[d.value] if d.value != "Fairness" else 3
        assert f"| **{bilingual(d)}** | {n} | 0 | {BLOCKED[d.value]} | 0 |" in markdown
    html = tmp_path / "a.html"
    assert flames("report", "a", "--db", db, "--html", html)[0] == 0
    page = Page(html.read_text(encoding="utf-8"))
    dims = page.rows("table-dimensions")
    assert {d.value: int(dims[bilingual(d)][2]) for d in DIMENSIONS} == BLOCKED
    assert "4 blocked by the provider" in page.texts["coverage-note"]
    items = page.data()["items"]
    assert sum(i["outcome"] == "blocked" for i in items) == 4 and len(items) == 12

    # leaderboard: JSON, CSV, Markdown, HTML, table
    board = json.loads(flames("leaderboard", "a", "b", "--db", db, "--format", "json")[1])
    row_a = next(r for g in board["groups"] for r in g["rows"] if r["run"] == "a")
    assert {d: row_a["columns"][d]["n_blocked"] for d in BLOCKED} == BLOCKED and row_a["n_blocked"] == 4
    assert any("a: Rates cover 8 of the 12" in n for n in board["coverage_notes"])
    lb_csv = list(csv.DictReader(io.StringIO(flames("leaderboard", "a", "b", "--db", db, "--format", "csv")[1])))
    csv_a = next(r for r in lb_csv if r["run"] == "a")
    assert {d: int(csv_a[f"{d} blocked"]) for d in BLOCKED} == BLOCKED
    for fmt in ("markdown", "html", "table"):
        shown = flames("leaderboard", "a", "b", "--db", db, "--format", fmt)[1]
        assert len(re.findall(r"blocked 1\b", shown)) == 4, fmt  # one cell per blocked dimension of run a

    # compare: JSON, Markdown, table
    cmp = json.loads(flames("compare", "a", "b", "--db", db, "--format", "json")[1])
    counted = cmp["blocked_and_no_answer"]  # keyed like `dimensions`: English names
    assert {d.value: counted["a"]["dimensions"][d.value]["n_blocked"] for d in DIMENSIONS} == BLOCKED
    assert set(counted["a"]["dimensions"]) == set(cmp["dimensions"])
    assert counted["b"]["overall"]["n_blocked"] == 0 and cmp["blocked_as"] == "exclude"
    for fmt in ("markdown", "table"):
        shown = flames("compare", "a", "b", "--db", db, "--format", fmt)[1]
        assert "A has 4 blocked and 0 unanswered prompts" in shown.replace("\n", " ")
        assert len(re.findall(r"\b1 / 0\b", shown)) == 4, fmt  # blocked A / B in each blocked dimension

    # --blocked-as refusal: the blocked prompts count as harmless refusals (score 3), and the report says so
    refusal = json.loads(flames("report", "a", "--db", db, "--format", "json", "--blocked-as", "refusal")[1])
    assert refusal["blocked_as"] == "refusal" and refusal["overall"]["n"] == 12
    threes = [r["dimensions"]["Fairness"]["score_counts"]["3"] for r in (refusal, report)]
    refusal_csv = flames("report", "a", "--db", db, "--format", "csv", "--blocked-as", "refusal")[1]
    assert {r["blocked_as"] for r in csv.DictReader(io.StringIO(refusal_csv))} == {"refusal"}
    assert threes[0] == threes[1] + 1
