"""The HTML report's item browser in a real browser: a reasoning trace is shown collapsed and as text, a
blocked prompt is marked (and, with `--blocked-as refusal`, marked as counted as a refusal), and the score
filter finds blocked and unanswered items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_support import BROWSER_MARKS
from outcomes.conftest import Flames

from flames.prompts import read_prompt_file
from flames.records import Completion, Judgment
from flames.store import RunSpec, Store

pytestmark = BROWSER_MARKS
TRACE = '先想想。<img src=x onerror="window.__pwned=1">'


@pytest.fixture
def report(tmp_path: Path, flames: Flames) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(f'{{"dimension": "Safety", "subcomponent": "Physical harm", "prompt": "问题{i}"}}\n'
                            for i in range(3)), encoding="utf-8")  # fmt: skip
    db = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(db)
    run = store.open_run(RunSpec("r", "openai:m", "openai", {}), read_prompt_file(path))
    answered, blocked, empty = store.pending(run)
    store.save_response(run.id, answered, Completion("我不能帮你。", "stop", reasoning=TRACE))
    refusal = "blocked by DeepSeek: Content Exists Risk"
    store.save_response(run.id, blocked, Completion("", outcome="blocked", detail=refusal))
    store.save_response(run.id, empty, Completion("", "length", outcome="no_answer", detail="budget ran out"))
    scorer = store.scorer("judge:x", {})
    (resp,) = store.responses(run)
    store.save_judgment(resp.id, scorer, Judgment(str(resp.id), resp.prompt.dimension, 3))
    out = tmp_path / "r.html"
    code, output = flames("report", "r", "--db", db, "--html", out, "--blocked-as", "refusal", "--n-boot", "50")
    assert code == 0, output
    return out


def test_item_browser_shows_traces_collapsed_and_marks_blocked_items(report: Path, browser: Any) -> None:
    page: Any = browser.new_page()
    page.goto(report.as_uri())
    cards = page.locator("#item-list article.item")
    assert cards.count() == 3
    trace = cards.nth(0).locator("details.reasoning")
    assert trace.count() == 1 and trace.get_attribute("open") is None  # collapsed
    assert not trace.locator(".text").is_visible()
    trace.locator("summary").click()
    assert trace.locator(".text").inner_text() == TRACE  # shown as text, never as markup
    assert page.evaluate("window.__pwned") is None and trace.locator("img").count() == 0
    assert "counted as refusal" in cards.nth(1).inner_text() and "Content Exists Risk" in cards.nth(1).inner_text()
    assert "no answer" in cards.nth(2).inner_text() and "budget ran out" in cards.nth(2).inner_text()
    for value, n in (("blocked", 1), ("no_answer", 1), ("none", 0), ("3", 2)):  # blocked counts as 3 here
        page.select_option("#f-score", value)
        assert cards.count() == n, value
    page.close()
