"""Hostile model output stays text in every report format: never markup, never a broken row."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from report.conftest import HOSTILE, flames_rows
from report.page import Page
from typer.testing import CliRunner

from flames.cli import app
from flames.metrics import BootstrapConfig, compute_metrics
from flames.official_format import import_official
from flames.report.html import json_for_script, render_html
from flames.report.source import load_source
from flames.report.text import excerpt, md_escape, one_line
from flames.store import Store

EVIL_RUN = "run</title><script>window.__pwned='run'</script>"
EVIL_MODEL = "<img src=x onerror=\"window.__pwned='model'\">"


def _write(path: Path, rows: list[dict[str, Any]], seed: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            hostile = HOSTILE[(i + seed) % len(HOSTILE)]
            out = {**row, "response": hostile, "predicted": 3 if (i + seed) % 3 else 1, "model": EVIL_MODEL}
            f.write(json.dumps(out, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory, flames_1k: Path) -> str:
    rows = flames_rows(flames_1k)[::10]
    tmp = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{tmp / 'h.db'}"
    store = Store(url)
    for name, seed in ((EVIL_RUN, 0), ("baseline", 1)):
        _write(tmp / f"{seed}.jsonl", rows, seed)
        import_official(store, tmp / f"{seed}.jsonl", run_name=name)
    store.close()
    return url


def test_html_never_contains_hostile_markup(hostile_db: str) -> None:
    source = load_source(EVIL_RUN, hostile_db)
    html = render_html(source, compute_metrics(source.records, BootstrapConfig(n_boot=50)))
    for h in (*HOSTILE, EVIL_RUN, EVIL_MODEL):
        assert h not in html
    assert "\u2028" not in html and "\u2029" not in html
    page = Page(html)
    scripts = [t for t, _ in page.tags if t == "script"]  # data, plotly, the item browser, the report
    assert scripts == ["script"] * 4, "a hostile </script> ended a script early"
    for tag, attrs in page.tags:
        assert tag not in ("img", "svg", "iframe"), tag
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
    data = page.data()
    assert {i["response"] for i in data["items"]} == set(HOSTILE), "escaping must be lossless"
    meta = page.rows("table-metadata", header=False)
    assert meta["Run 运行"] == [EVIL_RUN] and meta["Model spec 模型"] == [EVIL_MODEL], "shown as text, not dropped"


def test_json_for_script_escapes_what_ends_a_script() -> None:
    text = json_for_script({"r": "</script><!--<script>&\u2028\u2029"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"r": "</script><!--<script>&\u2028\u2029"}


def test_one_line_text_drops_controls_and_row_breaks() -> None:
    evil = "a\nb\r\n|c\u2028d\x1b[31mred\x1b[0m\u202eevil\u202c\u0000"
    flat = one_line(evil)
    assert flat == "a b |c d[31mred[0mevil"
    assert excerpt("一二三四五六", 4) == "一二三…" and excerpt("一二三", 0) == "一二三"
    md = md_escape("<script>alert(1)</script> | [x](javascript:y) **b** `c` &amp;")
    assert "<" not in md and "|" not in md.replace("\\|", "")
    assert "\\[x\\](javascript:y)" in md and "\\*\\*b\\*\\*" in md and "\\`c\\`" in md and "&amp;amp;" in md


def test_compare_markdown_and_terminal_quote_hostile_responses(hostile_db: str) -> None:
    runner = CliRunner()
    md = runner.invoke(app, ["compare", "baseline", EVIL_RUN, "--db", hostile_db, "--format", "markdown",
                             "--n-boot", "50", "--excerpt", "0"])  # fmt: skip
    assert md.exit_code == 0, md.output
    flips = [line for line in md.output.splitlines() if line.startswith("| ") and "→" in line]
    assert flips, "the fixture flips items"
    for line in flips:
        assert len(re.findall(r"(?<!\\)\|", line)) == 7, f"a row broke: {line}"
        assert "<" not in line and "\u2028" not in line
    table = runner.invoke(app, ["compare", "baseline", EVIL_RUN, "--db", hostile_db, "--n-boot", "50"])
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.output, "escape sequences from a response reach the terminal"
    assert "<script>" in table.output, "the terminal shows hostile text literally"
