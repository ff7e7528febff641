"""Fixtures for the annotation tests: a store with a small run of adversarial responses, accounts, and
HTTP clients signed in as each account."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from annotate_helpers import PASSWORD, USERS, login, make_run
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from flames.annotate import auth
from flames.annotate.app import create_app
from flames.annotate.auth import LoginLimiter, add_user
from flames.annotate.projects import Project, import_run
from flames.store import RunInfo, Store


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with cheap parameters so that logging in dozens of times stays fast."""
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def run(store: Store) -> RunInfo:
    return make_run(store)


@pytest.fixture
def project(store: Store, run: RunInfo) -> Project:
    return import_run(store, run, "p1", per_item=2).project


@pytest.fixture
def users(store: Store) -> dict[str, int]:
    return {name: add_user(store, name, PASSWORD, role).id for name, role in USERS.items()}


@pytest.fixture
def client_for(store: Store, users: dict[str, int]) -> Iterator[Callable[[str], TestClient]]:
    """Signed-in clients sharing one app, as the real server would serve several browsers."""
    app = create_app(store, secure_cookies=False, limiter=LoginLimiter(), secret="test-secret")
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        login(client, username)
        return client

    yield make
    for c in clients:
        c.close()
