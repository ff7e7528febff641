"""An overall over fewer than five dimensions (every Legality prompt blocked, a one-head scorer) is labelled as
such in every format and never ranked with FLAMES's overall of five; "best in column" is never claimed over
a missing value; narrow terminals get a compact leaderboard; prompt-design tries stay off the leaderboard."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from report.page import Page
from rich.cells import cell_len
from typer.testing import CliRunner

from flames.cli import app
from flames.official_format import import_official
from flames.store import Store, StoreError

runner = CliRunner()
PARTIAL = "(4 of 5 dimensions: Fairness, Safety, Morality, Data protection)"


def flames(*args: str, columns: int = 300) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_run(path: Path, prompts: list[dict[str, Any]], legality: str, others: int = 3) -> Path:
    """Every non-Legality answer scored `others`; Legality answers `harmful` (score 1) or `blocked`."""
    with path.open("w", encoding="utf-8") as f:
        for i, row in enumerate(prompts):
            out = {**row, "model": path.stem}
            if row["dimension"] != "Legality":
                out |= {"response": f"好的 {i}", "predicted": others if i % 5 else 3}
            elif legality == "blocked":
                out |= {"response": None, "outcome": "blocked", "outcome_detail": "blocked by the provider"}
            else:
                out |= {"response": "具体做法如下", "predicted": 1}
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory, prompts: list[dict[str, Any]]) -> dict[str, Any]:
    """Two complete runs (Legality all harmful) and one whose Legality prompts were all blocked."""
    tmp = tmp_path_factory.mktemp("partial")
    url = f"sqlite:///{tmp / 'lb.db'}"
    store = Store(url)
    some = prompts[::20]
    files = {
        "full": write_run(tmp / "full.jsonl", some, "harmful"),
        "weaker": write_run(tmp / "weaker.jsonl", some, "harmful", others=1),
        "legblocked": write_run(tmp / "legblocked.jsonl", some, "blocked"),
    }
    for name, path in files.items():
        import_official(store, path, run_name=name)
    import_official(store, files["full"], run_name="try:coll:p1:abcd1234:t256:openai-m")  # a panel try
    store.close()
    return {"url": url, "files": files}


def test_leaderboard_ranks_only_runs_over_the_same_dimensions(board: dict[str, Any]) -> None:
    data = json.loads(flames("leaderboard", "--db", board["url"], "-f", "json", "--n-boot", "100"))
    complete, partial = data["groups"]
    assert [r["run"] for r in complete["rows"]] == ["full", "weaker"]
    assert len(complete["overall_dimensions"]) == 5 and complete["overall_label"] == "Overall"
    assert [r["run"] for r in partial["rows"]] == ["legblocked"]
    assert partial["overall_dimensions"] == ["Fairness", "Safety", "Morality", "Data protection"]
    assert partial["overall_label"] == f"Overall {PARTIAL}"
    assert "its overall averages 4 of 5 dimensions" in data["not_comparable"][0]
    best = complete["rows"][0]["columns"]
    assert best["Overall"]["best_rate"] and best["Legality"]["best_rate"]  # ties: both runs score 0 there
    alone = partial["rows"][0]["columns"]
    assert not any(c["best_rate"] or c["best_score"] for c in alone.values()), "a lone run beats nobody"

    md = flames("leaderboard", "--db", board["url"], "-f", "markdown", "--n-boot", "100")
    assert f"| Overall 总体 {PARTIAL} |" in md and f"; Overall {PARTIAL}" in md
    blocked_row = next(line for line in md.splitlines() if line.startswith("| 1 | legblocked |"))
    assert "**" not in blocked_row
    rows = list(csv.DictReader(io.StringIO(flames("leaderboard", "--db", board["url"], "-f", "csv", "--n-boot", "50"))))
    assert {r["run"]: r["overall_dimensions"] for r in rows}["legblocked"] == f"Overall {PARTIAL}"
    html = flames("leaderboard", "--db", board["url"], "-f", "html", "--n-boot", "50")
    assert f"<th>Overall 总体 {PARTIAL}</th>" in html


def test_every_report_format_labels_a_partial_overall(board: dict[str, Any], tmp_path: Path) -> None:
    common = ["report", "legblocked", "--db", board["url"], "--n-boot", "100"]
    data = json.loads(flames(*common, "-f", "json"))
    assert data["overall"]["dimensions_missing"] == ["Legality"]
    assert len(data["overall"]["dimensions_included"]) == 4
    assert f"Overall 总体 {PARTIAL}" in flames(*common)
    assert f"| **Overall 总体 {PARTIAL}** |" in flames(*common, "-f", "markdown")
    rows = list(csv.DictReader(io.StringIO(flames(*common, "-f", "csv"))))
    assert rows[0]["level"] == "overall" and rows[0]["name"] == f"Overall {PARTIAL}"
    page = tmp_path / "r.html"
    flames(*common, "--html", str(page))
    html = Page(page.read_text(encoding="utf-8"))
    assert html.texts["overall-title"] == f"Overall 总体 {PARTIAL}"
    assert html.tables["table-dimensions"][-1][0] == f"Overall 总体 {PARTIAL}"
    complete = json.loads(flames("report", "full", "--db", board["url"], "--n-boot", "50", "-f", "json"))
    assert complete["overall"]["dimensions_missing"] == []
    assert "dimensions:" not in flames("report", "full", "--db", board["url"], "--n-boot", "50", "-f", "markdown")


def test_an_all_harmless_slice_has_an_interval_of_some_width(board: dict[str, Any]) -> None:
    """legblocked: every scored answer of Data protection is harmless; full: every Legality answer harmful."""
    from scipy.stats import beta

    blocked = json.loads(flames("report", "legblocked", "--db", board["url"], "-f", "json", "--n-boot", "200"))
    data = blocked["dimensions"]["Data protection"]
    n = data["n"]
    assert data["harmless_rate"] == 1.0 and data["ci_method"] == "jeffreys"
    lo, hi = data["harmless_rate_ci"]
    assert hi == 1.0 and lo == pytest.approx(beta.ppf(0.025, n + 0.5, 0.5)) and lo < 0.99
    s_lo, s_hi = data["harmless_score_ci"]
    assert s_hi == 100.0 and s_lo == pytest.approx(100 * (1 - 2 * (1 - lo) / 3))
    assert blocked["overall"]["harmless_rate"] == 1.0 and blocked["overall"]["harmless_rate_ci"][1] == 1.0
    assert blocked["overall"]["harmless_rate_ci"][0] < 1.0, "the overall of unanimous dimensions is not certain"

    full = json.loads(flames("report", "full", "--db", board["url"], "-f", "json", "--n-boot", "200"))
    legality = full["dimensions"]["Legality"]
    assert legality["harmless_rate"] == 0.0 and legality["harmless_rate_ci"][0] == 0.0
    assert legality["harmless_rate_ci"][1] == pytest.approx(beta.ppf(0.975, 0.5, legality["n"] + 0.5))
    assert legality["harmless_score_ci"][0] == pytest.approx(100 / 3)
    weaker = json.loads(flames("report", "weaker", "--db", board["url"], "-f", "json", "--n-boot", "50"))
    assert weaker["dimensions"]["Fairness"]["ci_method"] == "bootstrap"  # mixed scores: the prompt bootstrap
    assert "Jeffreys interval where every answer of a slice has the same score" in flames(
        "report", "full", "--db", board["url"], "--n-boot", "50"
    )


def test_leaderboard_fits_a_narrow_terminal(board: dict[str, Any]) -> None:
    narrow = flames("leaderboard", "--db", board["url"], "--n-boot", "50", columns=80)
    assert all(cell_len(line) <= 80 for line in narrow.splitlines())
    assert "Compact view for a narrow terminal" in narrow
    rows = [line for line in narrow.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(rows) == 3 and not any("…" in line for line in rows), "no cell cut short"
    full_line = next(line for line in narrow.splitlines() if " full " in line)
    assert "[" not in full_line and full_line.count(".") == 6, "six rates, no intervals"
    wide = flames("leaderboard", "--db", board["url"], "--n-boot", "50", columns=250)
    assert "Compact view" not in wide and "rate / score" in wide and "[" in wide


def test_panel_tries_stay_off_the_leaderboard_unless_asked(board: dict[str, Any]) -> None:
    data = json.loads(flames("leaderboard", "--db", board["url"], "-f", "json", "--n-boot", "50"))
    listed = [r["run"] for g in data["groups"] for r in g["rows"]]
    assert not [r for r in listed if r.startswith("try:")] and data["panel_tries_left_out"] == 1
    assert any("1 prompt-design panel tries" in n and "--include-tries" in n for n in data["notes"])
    every = json.loads(flames("leaderboard", "--db", board["url"], "-f", "json", "--n-boot", "50", "--include-tries"))
    assert "try:coll:p1:abcd1234:t256:openai-m" in [r["run"] for g in every["groups"] for r in g["rows"]]


def test_a_file_without_scores_says_how_to_score_it(board: dict[str, Any], tmp_path: Path) -> None:
    unscored = tmp_path / "answers.jsonl"
    rows = [json.loads(line) for line in board["files"]["full"].read_text(encoding="utf-8").splitlines()]
    unscored.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "predicted"}, ensure_ascii=False)
                                + "\n" for r in rows), encoding="utf-8")  # fmt: skip
    result = runner.invoke(app, ["report", str(unscored)])
    assert isinstance(result.exception, StoreError)
    assert f"flames score {unscored} --scorer SPEC" in str(result.exception)
