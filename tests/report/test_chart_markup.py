"""Labels from data reach plotly's charts as text: plotly renders its own markup (`<a href>` links,
`<span style>`, entities) in ticks, legends, titles and hover labels, so an attack method or a scorer name
such as `human:PROJECT` must never become a link or a styled element (probe fault F6)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import SKIP_WITHOUT_CHROMIUM
from report.conftest import add_scorer, flames_rows
from report.page import Page
from typer.testing import CliRunner

from flames.cli import app
from flames.official_format import import_official
from flames.report.charts import escape_plotly
from flames.store import Store

LINK = '<a href="http://127.0.0.1:9/phish">Official guideline 官方指南</a>'
STYLED = '<span style="font-size:80px;color:red">BIG</span>'
FORMULA = '=HYPERLINK("http://127.0.0.1:9/","x")'
HOSTILE_SCORER = f"human:{LINK}"


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory, flames_1k: Path) -> str:
    """Run `evil` with attack methods (and a scorer name) carrying plotly markup, and a run named with it."""
    tmp = tmp_path_factory.mktemp("markup")
    rows = flames_rows(flames_1k)[:40]
    path = tmp / "evil.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            out = {**row, "response": "好的", "predicted": 3 if i % 3 else 1,
                   "attack_method": (LINK, STYLED, FORMULA, "plain")[i % 4]}  # fmt: skip
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    url = f"sqlite:///{tmp / 'm.db'}"
    store = Store(url)
    run = import_official(store, path, run_name="evil")
    add_scorer(store, run, HOSTILE_SCORER, {"project": "x"}, seed=3, p_harmless=0.5)
    for name in (STYLED, FORMULA):  # runs named with markup and with a formula, for the leaderboard
        import_official(store, path, run_name=name)
    store.close()
    return url


def _report(db: str, out: Path) -> Path:
    result = CliRunner().invoke(app, ["report", "evil", "--db", db, "--scorer", "imported", "--html", str(out),
                                      "--n-boot", "50"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def test_chart_specs_carry_no_markup(hostile_store: str, tmp_path: Path) -> None:
    charts = Page(_report(hostile_store, tmp_path / "r.html").read_text(encoding="utf-8")).data()["charts"]
    text = list(_strings(charts))
    assert not [t for t in text if "<" in t or ">" in t], "a label reaches plotly unescaped"
    for label in (LINK, STYLED, HOSTILE_SCORER):
        assert any(escape_plotly(label) in t for t in text), label  # there, as text
    assert escape_plotly("a&b<c>") == "a&amp;b&lt;c&gt;"


def test_csv_tables_are_spreadsheet_safe(hostile_store: str, tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = []
    for args in (["report", "evil", "--scorer", "imported"], ["leaderboard"]):
        out = tmp_path / f"{args[0]}.csv"
        result = runner.invoke(app, [*args, "--db", hostile_store, "--format", "csv", "--n-boot", "20", "-o", str(out)])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text(encoding="utf-8"))
    for text in outputs:
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert "'" + FORMULA in cells and FORMULA not in cells
        assert not [c for c in cells if c.startswith(("=", "+", "@"))]


@pytest.mark.browser
@SKIP_WITHOUT_CHROMIUM
def test_no_link_or_styled_element_comes_from_data_in_chromium(
    hostile_store: str, browser: Any, tmp_path: Path
) -> None:
    report = _report(hostile_store, tmp_path / "report.html")
    board = tmp_path / "board.html"
    result = CliRunner().invoke(app, ["leaderboard", "--db", hostile_store, "--format", "html", "-o", str(board)])
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(report.as_uri())
    page.wait_for_selector("#chart-attacks .main-svg")
    page.wait_for_selector("#chart-scorers .main-svg")
    assert page.locator("svg a").count() == 0, "a label became a link in a chart"
    styled = page.evaluate(
        "[...document.querySelectorAll('.main-svg *')].filter(e =>"
        " (e.getAttribute('style') || '').includes('80px')).length"
    )
    assert styled == 0, "a label became styled text in a chart"
    attacks = page.locator("#chart-attacks").text_content() or ""
    assert "<a href=" in attacks and "<span style=" in attacks  # drawn literally
    assert "human:<a href=" in (page.locator("#chart-scorers").text_content() or "")
    for i in range(page.locator("#chart-attacks .point path").count()):  # hover labels: every bar
        box = page.locator("#chart-attacks .point path").nth(i).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(100)
        assert page.locator("#chart-attacks .hoverlayer a").count() == 0
        hover = page.locator("#chart-attacks .hoverlayer").text_content() or ""
        assert not any(x in hover for x in ("guideline", "BIG")) or "<" in hover, hover
    page.goto(board.as_uri())
    assert page.locator("a[href*='phish']").count() == 0 and page.locator("[style*='80px']").count() == 0
    assert STYLED in (page.locator("body").text_content() or "")
    page.close()
