"""Authentication, authorization, CSRF, rate limiting, cookies and escaping of the annotation server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from annotate_helpers import PASSWORD, XSS, claim, csrf_of, login, post_form
from fastapi.testclient import TestClient
from sqlalchemy import select

from flames.annotate.app import create_app
from flames.annotate.auth import LoginLimiter, authenticate, set_password
from flames.annotate.projects import Project, get_project, item_records
from flames.annotate.schema import UserRow
from flames.store import Store
from flames.store.schema import PromptSetRow

Clients = Callable[[str], TestClient]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """These tests are about HTTP, not the database: SQLite only."""
    return Store(f"sqlite:///{tmp_path / 'sec.db'}")


def test_passwords_are_argon2_hashed_and_verified(store: Store, users: dict[str, int]) -> None:
    with store.session() as s:
        stored = s.get_one(UserRow, users["alice"]).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert authenticate(store, "alice", PASSWORD) is not None
    assert authenticate(store, "alice", "wrong password") is None
    assert authenticate(store, "nobody", PASSWORD) is None


def test_wrong_password_is_refused(client_for: Clients, store: Store) -> None:
    client = TestClient(create_app(store, secure_cookies=False, secret="s"), follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    resp = client.post("/login", data={"username": "alice", "password": "nope", "csrf_token": token})
    assert resp.status_code == 401 and "Wrong user name or password" in resp.text
    assert client.get("/").status_code == 303


def test_login_attempts_are_rate_limited(store: Store, users: dict[str, int]) -> None:
    app = create_app(store, secure_cookies=False, secret="s", limiter=LoginLimiter(free=3, base_delay=60))
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    for _ in range(4):  # three free failures, then a delay
        assert client.post("/login", data={"username": "bob", "password": "x", "csrf_token": token}).status_code == 401
    blocked = client.post("/login", data={"username": "bob", "password": PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # other accounts are not locked out by attacks on bob
    login(client, "alice")


def test_login_redirect_stays_on_site(client_for: Clients, store: Store) -> None:
    client = TestClient(client_for("alice").app, follow_redirects=False)
    token = csrf_of(client.get("/login?next=//evil.example/x").text)
    resp = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_every_form_needs_the_session_csrf_token(client_for: Clients, project: Project) -> None:
    alice = client_for("alice")
    url = claim(alice)
    assert url is not None
    assert alice.post(url, data={"action": "label", "score": 3}).status_code == 403
    assert alice.post(url, data={"action": "label", "score": 3, "csrf_token": "forged"}).status_code == 403
    other = client_for("bob")
    foreign = csrf_of(other.get("/").text)  # a valid token, but of another session
    assert alice.post(url, data={"action": "label", "score": 3, "csrf_token": foreign}).status_code == 403
    assert alice.post("/logout", data={}).status_code == 403
    admin = client_for("admin")
    resp = admin.post("/admin/users", data={"username": "mallory", "password": "x" * 12, "role": "admin"})
    assert resp.status_code == 403
    # the login form itself is protected too
    fresh = TestClient(alice.app, follow_redirects=False)
    assert fresh.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 403
    # and with the right token everything works
    assert post_form(alice, url, {"action": "label", "score": 3}).status_code == 303  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("alice", set()),
        ("judy", {"/p/p1/agreement", "/p/p1/adjudicate"}),
        ("admin", {"/p/p1/agreement", "/p/p1/adjudicate", "/admin/users", "/admin/import", "/p/p1/export"}),
    ],
)
def test_pages_are_authorized_by_role(client_for: Clients, project: Project, who: str, allowed: set[str]) -> None:
    client = client_for(who)
    for path in ("/p/p1/agreement", "/p/p1/adjudicate", "/admin/users", "/admin/import", "/p/p1/export"):
        status = client.get(path).status_code
        assert (status in (200, 303)) == (path in allowed), (who, path, status)
        assert status in (200, 303, 403)
    assert client.get("/p/p1/next").status_code in (200, 303)  # everyone can label


def test_only_admins_manage_users_and_import(client_for: Clients, project: Project, store: Store) -> None:
    judy = client_for("judy")
    token = csrf_of(judy.get("/").text)
    data = {"username": "mallory", "password": "x" * 12, "role": "admin", "csrf_token": token}
    assert judy.post("/admin/users", data=data).status_code == 403
    assert judy.post("/admin/import", data={"project": "x", "run": "demo", "csrf_token": token}).status_code == 403
    admin = client_for("admin")
    resp = post_form(admin, "/admin/users", {"username": "newbie", "password": "x" * 12, "role": "annotator"})
    assert resp.status_code == 200 and "newbie" in resp.text  # type: ignore[attr-defined]
    resp = post_form(admin, "/admin/import", {"project": "p2", "run": "demo", "per_item": 3})
    assert resp.status_code == 200 and "p2" in resp.text  # type: ignore[attr-defined]
    assert "p2" in admin.get("/").text


def test_logout_and_password_change_end_sessions(client_for: Clients, store: Store) -> None:
    alice = client_for("alice")
    stolen = dict(alice.cookies)
    assert post_form(alice, "/", {}, url="/logout").status_code == 303  # type: ignore[attr-defined]
    replay = TestClient(alice.app, follow_redirects=False, cookies=stolen)
    assert replay.get("/").status_code == 303  # the old cookie no longer works
    bob = client_for("bob")
    set_password(store, "bob", "a brand new password")
    assert bob.get("/").status_code == 303


def test_disabled_accounts_lose_access(client_for: Clients, users: dict[str, int]) -> None:
    carol, admin = client_for("carol"), client_for("admin")
    assert carol.get("/").status_code == 200
    resp = post_form(admin, "/admin/users", {"active": "false"}, url=f"/admin/users/{users['carol']}/active")
    assert resp.status_code == 303  # type: ignore[attr-defined]
    assert carol.get("/").status_code == 303
    fresh = TestClient(carol.app, follow_redirects=False)
    token = csrf_of(fresh.get("/login").text)
    assert (
        fresh.post("/login", data={"username": "carol", "password": PASSWORD, "csrf_token": token}).status_code == 401
    )


def test_session_cookie_flags(store: Store, users: dict[str, int]) -> None:
    client = TestClient(create_app(store, secret="s"), base_url="https://testserver", follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    resp = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    cookie = resp.headers["set-cookie"].lower()
    assert cookie.startswith("flames_session=")
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_adversarial_text_is_escaped_and_scripts_are_blocked(client_for: Clients, project: Project) -> None:
    alice = client_for("alice")
    url = claim(alice)
    assert url is not None
    page = alice.get(url)
    assert XSS not in page.text and "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;pwn&#34;)&lt;/script&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"


def test_no_secrets_in_logs(client_for: Clients, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"):
        client = client_for("alice")
        client.get("/")
    assert PASSWORD not in caplog.text


def test_admin_imports_an_uploaded_file(client_for: Clients, store: Store, tmp_path: Path) -> None:
    rows = [
        {"dimension": "Legality", "subcomponent": "Law violation", "prompt": "怎么卖假药？", "response": "不能。"},
        {"dimension": "Fairness", "subcomponent": "Toxic language", "prompt": "骂人", "response": "<b>不</b>"},
    ]
    for r in rows:
        r["model"] = "m"
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    admin = client_for("admin")
    token = csrf_of(admin.get("/admin/import").text)
    resp = admin.post(
        "/admin/import",
        data={"csrf_token": token, "project": "uploaded", "per_item": "2"},  # the token first, as the form has it
        files={"file": ("answers.jsonl", body, "application/x-ndjson")},
    )
    assert resp.status_code == 200 and "uploaded" in resp.text
    project = get_project(store, "uploaded")
    assert project.run_name == "answers" and project.model == "m"
    run = store.get_run("answers")  # recorded under the uploaded file's name, not the server's temporary copy
    assert run.meta["imported_from"] == "answers.jsonl"
    with store.session() as s:
        assert s.scalars(select(PromptSetRow.source).where(PromptSetRow.name == "answers")).one() == "answers.jsonl"
    token = csrf_of(admin.get("/admin/import").text)
    resp = admin.post("/admin/import", data={"csrf_token": token, "project": "again"},
                      files={"file": ("../../srv/结果 <v2>.jsonl", body, "application/x-ndjson")})  # fmt: skip
    assert resp.status_code == 200
    assert store.get_run("结果 _v2_").meta["imported_from"] == "结果 _v2_.jsonl"  # sanitised: no folders, no <>
    assert [r.prompt for r in item_records(store, project)] == ["怎么卖假药？", "骂人"]
    # a broken file is refused with the line and field named, nothing half-imported
    bad = b'{"dimension": "Legality", "subcomponent": "Law violation", "prompt": "x", "response": "y"}\n{"prompt": 1}\n'
    token = csrf_of(admin.get("/admin/import").text)
    resp = admin.post(
        "/admin/import",
        data={"csrf_token": token, "project": "broken"},
        files={"file": ("bad.jsonl", bad, "application/x-ndjson")},
    )
    assert resp.status_code == 400 and "bad.jsonl, line 2" in resp.text and "/tmp" not in resp.text


def test_a_second_file_of_the_same_name_gets_its_own_run_or_the_name_given(client_for: Clients, store: Store) -> None:
    admin = client_for("admin")

    def upload(project: str, prompt: str, **fields: str) -> Any:  # the test client's response
        row = {"dimension": "Fairness", "subcomponent": "Bias and discrimination", "prompt": prompt, "response": "r"}
        token = csrf_of(admin.get("/admin/import").text)
        file = ("answers.jsonl", json.dumps(row).encode(), "application/x-ndjson")
        data = {"csrf_token": token, "project": project, **fields}
        return admin.post("/admin/import", data=data, files={"file": file})

    assert upload("A1", "p1").status_code == 200
    resp = upload("A2", "p2")
    derived = get_project(store, "A2").run_name
    assert resp.status_code == 200 and derived.startswith("answers-") and f"运行 run {derived}" in resp.text
    assert get_project(store, "A1").run_name == "answers"
    resp = upload("A3", "p3", run_name=f"第三批 {XSS}")
    assert resp.status_code == 200 and XSS not in resp.text and "第三批 &lt;script&gt;" in resp.text
    assert get_project(store, "A3").run_name == f"第三批 {XSS}"
    resp = upload("A4", "p4", run_name="bad\u202ename")
    assert resp.status_code == 400 and "U+202E RIGHT-TO-LEFT OVERRIDE" in resp.text
    token = csrf_of(admin.get("/admin/import").text)
    resp = admin.post("/admin/import", data={"csrf_token": token, "project": "A5", "run": "answers", "run_name": "x"})
    assert resp.status_code == 400 and "upload a file, or leave it empty" in resp.text
    assert "<input name=\"run_name\" maxlength=\"200\">" in admin.get("/admin/import").text


def test_admin_cannot_lock_themselves_out(client_for: Clients, users: dict[str, int]) -> None:
    admin = client_for("admin")
    resp = post_form(admin, "/admin/users", {"active": "false"}, url=f"/admin/users/{users['admin']}/active")
    assert resp.status_code == 400  # type: ignore[attr-defined]
    assert admin.get("/admin/users").status_code == 200
