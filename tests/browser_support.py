"""The browser tests' shared pieces: Debian's chromium through Playwright (never a downloaded browser), the
marks every browser test module carries, what a page did (script errors, dialogs, requests), the web app
served on loopback, signing in, and screenshots. The `browser` fixture (tests/conftest.py) launches through
`chromium`; a test whose own fixtures run an event loop after the browser starts launches it itself."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
SKIP_WITHOUT_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium missing: `make setup` installs it"
)
BROWSER_MARKS = [pytest.mark.browser, SKIP_WITHOUT_CHROMIUM]
"""`pytestmark` of a browser test module: marked `browser`, skipped where Debian's chromium is absent."""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium (Playwright's sync API), closed on exit. Playwright's event loop runs while
    it is open, so code that starts its own loop (asyncio.run) must run before."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did: uncaught script errors and console messages of the watched levels (`errors`), the
    dialogs it opened (each dismissed), and every URL it requested."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def watch(page: Any, console: tuple[str, ...] = ("error",)) -> Watch:
    seen = Watch()
    page.on("pageerror", lambda e: seen.errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: seen.errors.append(f"{m.type}: {m.text}") if m.type in console else None)
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: seen.requests.append(r.url))
    return seen


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The ASGI `app` served by uvicorn on a free loopback port, from its own thread; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def sign_in(browser: Any, base: str, username: str, password: str, start: str, lands: str,
            viewport: tuple[int, int] = (1200, 760)) -> Any:  # fmt: skip
    """A page in a new browser context signed in as `username`: it asked for `start`, was sent to the login
    page, and landed on `lands` (a glob) after signing in."""
    page = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}).new_page()
    page.goto(base + start)
    assert "/login" in page.url  # unauthenticated: sent to the login page
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lands)  # then back where they wanted to go
    return page


def screenshot(page: Any, name: str, *, full: bool = False, docs: str | None = None) -> None:
    """tests/artifacts/NAME; also docs/img/DOCS when `docs` is given and FLAMES_UPDATE_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full)
    if docs and os.environ.get("FLAMES_UPDATE_SCREENSHOTS") == "1":
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copy(ARTIFACTS / name, REPO / "docs" / "img" / docs)
