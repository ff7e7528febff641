"""Fixtures for the annotation tests: a store with a small run of adversarial responses, accounts, and
HTTP clients signed in as each account."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from annotate_helpers import PASSWORD, USERS, fast_argon2, make_run, signed_in_clients
from fastapi.testclient import TestClient

from flames.annotate.auth import add_user
from flames.annotate.projects import Project, import_run
from flames.store import RunInfo, Store


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: logins stay fast (the prompt design tests use this fixture too)."""
    fast_argon2(monkeypatch)


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
    with signed_in_clients(store) as make:
        yield make
