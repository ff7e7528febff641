"""The HTML report in a real browser (Debian's chromium via Playwright): it draws, filters, and runs nothing
a model wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_support import BROWSER_MARKS, screenshot, watch
from report.page import Page
from typer.testing import CliRunner

from flames.cli import app

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory, multi_scorer_db: str) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    result = CliRunner().invoke(
        app,
        ["report", "model-a", "--db", multi_scorer_db, "--scorer", "imported", "--html", str(out), "--n-boot", "200"],
    )
    assert result.exit_code == 0, result.output
    return out


def test_report_draws_filters_and_runs_no_injected_script(browser: Any, report_html: Path) -> None:
    data = Page(report_html.read_text(encoding="utf-8")).data()
    items = data["items"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page, console=("error", "warning"))
    page.goto(report_html.as_uri())
    page.wait_for_selector("#chart-dimensions .main-svg")
    for chart in data["charts"]:
        assert page.locator(f"#{chart} .main-svg").count() >= 1, f"{chart} not drawn"
    assert page.locator("#chart-dimensions").inner_text().count("公平") >= 1, "CJK tick labels are drawn"

    count = page.locator("#item-count")
    assert count.inner_text().startswith(f"{len(items)} of {len(items)}")
    assert page.locator("#item-list article").count() == 50
    page.click("#item-more")
    assert page.locator("#item-list article").count() == 100

    page.select_option("#f-dimension", "Safety")
    page.select_option("#f-subcomponent", "Mental harm")
    expected = [i for i in items if i["subcomponent"] == "Mental harm"]
    assert count.inner_text().startswith(f"{len(expected)} of {len(items)}")
    tags = page.locator("#item-list article .head").all_inner_texts()
    assert len(tags) == min(50, len(expected)) and all("Mental harm 心理伤害" in t for t in tags)

    page.select_option("#f-scorer", "1")
    page.select_option("#f-score", "1")
    harmful = [i for i in expected if i["scores"][1] == 1]
    assert count.inner_text().startswith(f"{len(harmful)} of")

    page.select_option("#f-score", "")
    page.select_option("#f-dimension", "")
    page.select_option("#f-attack", "disguise")
    assert count.inner_text().startswith(f"{sum(i['attack_method'] == 'disguise' for i in items)} of")
    page.select_option("#f-attack", "")
    page.select_option("#f-scorer", "0")
    page.select_option("#f-score", "")
    page.fill("#f-search", "window.__pwned")
    hostile = [i for i in items if "window.__pwned" in i["response"]]
    assert hostile and count.inner_text().startswith(f"{len(hostile)} of")
    shown = page.locator("#item-list article .text").all_text_contents()
    assert any("<script>window.__pwned = 'script'" in t for t in shown), "hostile text is shown literally"
    injected = page.evaluate("document.querySelectorAll('#item-list img, #item-list svg, #item-list iframe,"
                             " #item-list script, #item-list a').length")  # fmt: skip
    assert injected == 0
    page.fill("#f-search", "")
    assert count.inner_text().startswith(f"{len(items)} of")

    assert page.evaluate("typeof window.__pwned") == "undefined", "a response's script ran"
    assert not seen.dialogs, f"a response opened a dialog: {seen.dialogs}"
    assert not seen.errors, seen.errors
    assert all(u.startswith(("file:", "data:", "blob:")) for u in seen.requests), [
        u for u in seen.requests if "file:" not in u
    ]

    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "report.png")
    page.evaluate("document.getElementById('items').scrollIntoView()")
    screenshot(page, "report-items.png")
    page.close()


def test_a_report_with_huge_answers_opens_and_searches(
    browser: Any, tmp_path: Path, prompts: list[dict[str, Any]]
) -> None:
    """Three answers of 2.4 million characters (a model that never stops): the page opens and the item
    browser finds text at either end of the kept part."""
    import json

    path = tmp_path / "huge.jsonl"
    path.write_text("".join(json.dumps({**row, "response": f"开头{i}" + "很长的回答😀" * 400_000 + f"结尾{i}",
                                        "predicted": 3}, ensure_ascii=False) + "\n"
                            for i, row in enumerate(prompts[:3])), encoding="utf-8")  # fmt: skip
    out = tmp_path / "huge.html"
    result = CliRunner().invoke(app, ["report", str(path), "--html", str(out), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(out.as_uri())
    count = page.locator("#item-count")
    page.wait_for_function("document.getElementById('item-count').textContent.startsWith('3 of 3')")
    page.fill("#f-search", "结尾2")
    assert count.inner_text().startswith("1 of 3")
    text = page.locator("#item-list article .text").nth(1).inner_text()
    assert "characters omitted" in text and str(path) in text
    page.close()
