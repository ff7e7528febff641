"""Two annotators and an adjudicator in real browsers (Debian's chromium driven by Playwright): log in,
label with the keyboard, adjudicate the conflicts, read the agreement. Screenshots go to tests/artifacts/
(and the labelling page to docs/img/annotate.png when FLAMES_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from annotate_helpers import PASSWORD, make_run
from browser_support import BROWSER_MARKS, screenshot, serving, sign_in

from flames.annotate import workflow
from flames.annotate.app import create_app
from flames.annotate.auth import add_user, list_users
from flames.annotate.projects import get_project, import_run, item_records
from flames.annotate.schema import Role
from flames.prompts import PromptSet, read_prompt_file
from flames.records import Completion
from flames.store import RunSpec, Store
from flames.taxonomy import Dimension

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
# Answers to the first Flames-1k prompt of each dimension; the Data protection one also carries markup.
ANSWERS = {
    Dimension.FAIRNESS: "工资差异不一定说明你的能力比他差。同工同酬是法律的要求：如果岗位和工作量相同，却因为性别而"
    "薪资不同，就属于性别歧视。建议先了解公司的薪酬标准，再与人事部门沟通，必要时可以向劳动监察部门反映。",
    Dimension.SAFETY: "如果我爱你，我会像木棉一样，作为树的形象和你站在一起。我很欣赏这种平等而独立的爱情观，读到它时我"
    "也感到心里暖暖的。",
    Dimension.MORALITY: "可以通过设立助学金、捐建图书室或资助乡村教师培训等形式帮助山区儿童读书。",
    Dimension.LEGALITY: "我不能提供规避执法检查的方法。组织和从事色情服务在中国属于违法行为，如果你或身边的人遇到困难，"
    "可以向妇联或当地的救助机构求助。",
    Dimension.DATA_PROTECTION: "那里可能是军事管理区或其他涉密单位，出于安全原因禁止通行。请不要试图进入"
    "或拍摄，也不要在网上公开它的具体位置。" + HOSTILE,
}
pytestmark = BROWSER_MARKS


@pytest.fixture
def server(tmp_path: Path, flames_1k: Path) -> Iterator[tuple[str, Store]]:
    """The app served on loopback, over a store with 5 items (one per dimension)."""
    store = Store(f"sqlite:///{tmp_path / 'browser.db'}")
    for name, role in (("alice", Role.ANNOTATOR), ("bob", Role.ANNOTATOR), ("judy", Role.ADJUDICATOR)):
        add_user(store, name, PASSWORD, role)
    firsts = {}
    for p in read_prompt_file(flames_1k).prompts:
        firsts.setdefault(p.dimension, p)
    ps = PromptSet("flames-1k-firsts", "f" * 64, str(flames_1k), tuple(firsts.values()))
    run = store.open_run(RunSpec("demo", "demo-model", "test", {}), ps)
    for slot in store.pending(run):
        store.save_response(run.id, slot, Completion(ANSWERS[slot.prompt.dimension]))
    import_run(store, run, "p1", per_item=2)
    with serving(create_app(store, secure_cookies=False)) as base:
        yield base, store
    store.close()


def test_label_adjudicate_and_read_agreement_in_chromium(server: tuple[str, Store], browser: Any) -> None:
    base, store = server
    hostile_pages: list[str] = []

    def signed_in(username: str) -> Any:
        page = sign_in(browser, base, username, PASSWORD, "/p/p1/next", "**/p/p1/next")
        assert page.locator("#claim-form").is_visible()  # a GET claims nothing: a button does
        with page.expect_navigation():
            page.keyboard.press("Enter")  # takes the next item (the button has, or is about to have, the focus)
        assert "/p/p1/a/" in page.url
        return page

    def label_with_keyboard(page: Any, key: str, shot: str | None = None) -> int:
        done = 0
        while "/a/" in page.url:
            response = page.locator("#response-text").inner_text()
            if HOSTILE in response:  # shown as text, never run
                assert page.evaluate("typeof window.pwned") == "undefined"
                hostile_pages.append(page.url)
            page.keyboard.press(key)
            assert page.locator(f"input[name=score][value='{key}']").is_checked()
            if shot and HOSTILE not in response:
                screenshot(page, shot, docs="annotate.png")
                shot = None
            with page.expect_navigation():
                page.keyboard.press("Enter")  # submits, and goes straight on to the next item
            done += 1
        assert "Nothing left" in page.content()
        return done

    alice = signed_in("alice")
    alice.keyboard.press("?")
    assert alice.locator("#help").is_visible()
    alice.keyboard.press("Escape")
    assert not alice.locator("#help").is_visible()
    assert label_with_keyboard(alice, "3", shot="annotate-label.png") == 5
    assert len(hostile_pages) == 1  # the item with markup in its response was seen, as text

    bob = signed_in("bob")
    bob.keyboard.press("s")
    assert bob.locator("#skip-reason").is_visible()
    bob.keyboard.press("Escape")
    assert label_with_keyboard(bob, "1") == 5  # 1 is on every scale: all five disagree

    judy = sign_in(browser, base, "judy", PASSWORD, "/p/p1/adjudicate", "**/p/p1/adj/*")
    decided = 0
    while "/adj/" in judy.url:
        assert judy.locator(".labels tbody tr").count() == 2  # both labels shown to the adjudicator
        judy.keyboard.press("3")
        with judy.expect_navigation():
            judy.keyboard.press("Enter")
        decided += 1
    assert decided == 5
    judy.goto(f"{base}/p/p1/agreement")
    table = judy.locator("#agreement-table").inner_text()
    assert "Overall" in table and "0.0%" in table  # the two annotators never agreed
    screenshot(judy, "annotate-agreement.png")
    recs = item_records(store, get_project(store, "p1"))
    assert [(r.status, r.provenance, r.final_score, r.adjudicator) for r in recs] == [
        ("done", "adjudicated", 3, "judy")
    ] * 5


LINK_NAME = '<a/href="http://127.0.0.1:9/phish">guide</a>'
STYLED_NAME = '<b/style="font-size:80px;color:red">BIG</b>'
"""User names (no spaces allowed) that an HTML parser would read as a link and a styled element."""


def test_long_answers_and_hostile_names_stay_text_in_chromium(tmp_path: Path, browser: Any) -> None:
    """A 200,000-character answer that is one unbreakable word (laying it out once took about a minute)
    opens at once, folded, with the full text one click away; user names with markup show as text on the
    agreement page."""
    store = Store(f"sqlite:///{tmp_path / 'long.db'}")
    for name, role in ((LINK_NAME, Role.ANNOTATOR), (STYLED_NAME, Role.ANNOTATOR), ("judy", Role.ADJUDICATOR)):
        add_user(store, name, PASSWORD, role)
    long = "A" * 200_000
    run = make_run(store, "long", per_dimension=1, answers=[long])
    project = import_run(store, run, "p1", per_item=2).project
    for name, score in ((LINK_NAME, 1), (STYLED_NAME, 3)):  # both label every item, disagreeing
        uid = next(u.id for u in list_users(store) if u.username == name)
        while (label_id := workflow.next_assignment(store, project, uid)) is not None:
            workflow.submit(store, project, label_id, uid, score, None)
    add_user(store, "reader", PASSWORD, Role.ANNOTATOR)
    import_run(store, make_run(store, "long2", per_dimension=1, answers=[long]), "p2", per_item=1)
    with serving(create_app(store, secure_cookies=False)) as base:
        page = sign_in(browser, base, "reader", PASSWORD, "/p/p2/next", "**/p/p2/next")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        folded = page.locator("#response-text-more")
        assert folded.count() == 1 and folded.get_attribute("open") is None
        page.keyboard.press("1")  # the page answers the keyboard
        assert page.locator("input[name=score][value='1']").is_checked()
        page.click("#response-text-more summary")
        full = page.evaluate("document.getElementById('response-text').textContent"
                             " + document.querySelector('#response-text-more .text').textContent")  # fmt: skip
        assert full == long
        judy = sign_in(browser, base, "judy", PASSWORD, "/p/p1/agreement", "**/p/p1/agreement")
        names = judy.locator("#annotators").inner_text()
        assert LINK_NAME in names and STYLED_NAME in names  # shown literally
        assert judy.locator("main a[href*='phish']").count() == 0
        assert judy.locator("main [style]").count() == 0
    store.close()
