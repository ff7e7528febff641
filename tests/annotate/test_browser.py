"""Two annotators and an adjudicator in real browsers (Debian's chromium driven by Playwright): log in,
label with the keyboard, adjudicate the conflicts, read the agreement. Screenshots go to tests/artifacts/
(and to docs/img/annotate.png when FLAMES_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from annotate_helpers import PASSWORD, XSS, make_run

from flames.annotate.app import create_app
from flames.annotate.auth import add_user
from flames.annotate.projects import get_project, import_run, item_records
from flames.annotate.schema import Role
from flames.store import Store

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing: `make setup` installs it"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """The app served by uvicorn on loopback, over a store with 5 items (one per dimension)."""
    import uvicorn

    store = Store(f"sqlite:///{tmp_path / 'browser.db'}")
    for name, role in (("alice", Role.ANNOTATOR), ("bob", Role.ANNOTATOR), ("judy", Role.ADJUDICATOR)):
        add_user(store, name, PASSWORD, role)
    import_run(store, make_run(store, per_dimension=1), "p1", per_item=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(store, secure_cookies=False)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    thread.join(timeout=10)
    store.close()


def _shot(page: object, name: str, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    if docs and os.environ.get("FLAMES_UPDATE_SCREENSHOTS") == "1":
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, REPO / "docs" / "img" / "annotate.png")


def test_label_adjudicate_and_read_agreement_in_chromium(server: tuple[str, Store]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, store = server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        try:

            def signed_in(username: str, start: str = "/p/p1/next", lands: str = "**/p/p1/a/*") -> object:
                page = browser.new_context(viewport={"width": 1200, "height": 760}).new_page()
                page.goto(base + start)
                assert "/login" in page.url  # unauthenticated: sent to the login page
                page.fill("input[name=username]", username)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(lands)  # then back where they wanted to go
                return page

            def label_with_keyboard(page: object, key: str) -> int:
                done = 0
                while "/a/" in page.url:  # type: ignore[attr-defined]
                    assert page.locator("#response-text").inner_text().endswith(XSS)  # type: ignore[attr-defined]
                    page.keyboard.press(key)  # type: ignore[attr-defined]
                    assert page.locator(f"input[name=score][value='{key}']").is_checked()  # type: ignore[attr-defined]
                    with page.expect_navigation():  # type: ignore[attr-defined]
                        page.keyboard.press("Enter")  # type: ignore[attr-defined]
                    done += 1
                assert "Nothing left" in page.content()  # type: ignore[attr-defined]
                return done

            alice = signed_in("alice")
            assert alice.evaluate("typeof window.pwn") == "undefined"  # type: ignore[attr-defined]
            alice.keyboard.press("?")  # type: ignore[attr-defined]
            assert alice.locator("#help").is_visible()  # type: ignore[attr-defined]
            alice.keyboard.press("Escape")  # type: ignore[attr-defined]
            assert not alice.locator("#help").is_visible()  # type: ignore[attr-defined]
            alice.keyboard.press("3")  # type: ignore[attr-defined]
            _shot(alice, "annotate-label.png", docs=True)
            assert label_with_keyboard(alice, "3") == 5

            bob = signed_in("bob")
            bob.keyboard.press("s")  # type: ignore[attr-defined]
            assert bob.locator("#skip-reason").is_visible()  # type: ignore[attr-defined]
            bob.keyboard.press("Escape")  # type: ignore[attr-defined]
            assert label_with_keyboard(bob, "1") == 5  # 1 is on every scale: all five disagree

            judy: Any = signed_in("judy", "/p/p1/adjudicate", "**/p/p1/adj/*")
            decided = 0
            while "/adj/" in judy.url:
                assert judy.locator(".labels tbody tr").count() == 2  # both labels shown to the adjudicator
                judy.keyboard.press("3")
                with judy.expect_navigation():
                    judy.keyboard.press("Enter")
                decided += 1
            assert decided == 5
            judy.goto(f"{base}/p/p1/agreement")
            table = judy.locator("#agreement-table")
            assert "Overall" in table.inner_text()
            assert "0.0%" in table.inner_text()  # the two annotators never agreed
            _shot(judy, "annotate-agreement.png")
        finally:
            browser.close()
    recs = item_records(store, get_project(store, "p1"))
    assert [(r.status, r.provenance, r.final_score, r.adjudicator) for r in recs] == [
        ("done", "adjudicated", 3, "judy")
    ] * 5
