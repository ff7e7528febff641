"""Helpers shared by the annotation tests and the prompt design tests, which run on the same web app (a module
of its own: conftest files are not importable)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from flames.annotate import auth
from flames.annotate.app import create_app
from flames.annotate.auth import LoginLimiter
from flames.annotate.schema import Role
from flames.prompts import PromptSet, prompt_id
from flames.records import Completion, Prompt
from flames.store import RunInfo, RunSpec, Store
from flames.taxonomy import DIMENSIONS, info

PASSWORD = "correct horse battery"
XSS = '<script>alert("pwn")</script><img src=x onerror=alert(1)>'
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
USERS = {"admin": Role.ADMIN, "alice": Role.ANNOTATOR, "bob": Role.ANNOTATOR, "carol": Role.ANNOTATOR,
         "judy": Role.ADJUDICATOR}  # fmt: skip


def make_run(store: Store, name: str = "demo", per_dimension: int = 2, answers: list[str] | None = None) -> RunInfo:
    """A run with `per_dimension` responses per dimension; prompt and response texts contain markup (or the
    responses are `answers`, in turn)."""
    prompts = []
    for d in DIMENSIONS:
        for i in range(per_dimension):
            sub = info(d).subcomponents[i % len(info(d).subcomponents)]
            text = f"{d.value} 问题 {i} {XSS}"
            prompts.append(Prompt(prompt_id(d, sub, text), d, sub, text))
    ps = PromptSet(f"{name}-prompts", f"{name:0<64}"[:64], "test", tuple(prompts))
    run = store.open_run(RunSpec(name, "test-model", "test", {}), ps)
    for i, slot in enumerate(store.pending(run)):
        text = answers[i % len(answers)] if answers else f"回答 {slot.prompt.id} {XSS}"
        store.save_response(run.id, slot, Completion(text))
    return run


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_of(client.get("/login").text)
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 303, resp.text


def post_form(client: TestClient, page: str, data: Mapping[str, object], url: str | None = None) -> Any:
    """Open `page`, then post `data` (with that page's CSRF token) to `url` or the page itself."""
    token = csrf_of(client.get(page).text)
    return client.post(url or page, data={**data, "csrf_token": token})  # type: ignore[arg-type]


def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with cheap parameters so that logging in dozens of times stays fast."""
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@contextmanager
def signed_in_clients(store: Store) -> Iterator[Callable[[str], TestClient]]:
    """`make(username)`: an HTTP client signed in as that account; the clients share one app over `store`, as
    the real server serves several browsers. Closed on exit."""
    app = create_app(store, secure_cookies=False, limiter=LoginLimiter(), secret="test-secret")
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        login(client, username)
        return client

    try:
        yield make
    finally:
        for c in clients:
            c.close()


def claim(client: TestClient, project: str = "p1") -> str | None:
    """Ask for the next item as a browser does: GET shows the open assignment (a redirect) or a button, the
    button POSTs the claim. The assignment page URL, or None when the queue is empty."""
    resp = client.get(f"/p/{project}/next")
    if resp.status_code == 200 and "Nothing left" not in resp.text:
        resp = client.post(f"/p/{project}/next", data={"csrf_token": csrf_of(resp.text)})
    if resp.status_code == 200:
        assert "Nothing left" in resp.text
        return None
    assert resp.status_code == 303, resp.text
    return str(resp.headers["location"])
