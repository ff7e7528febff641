"""Fixtures for the prompt design tests: a store on SQLite and PostgreSQL, accounts of every role, a
collection, Flames-1k visible to the duplicate search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from design_support import fast_argon2, make_people

from flames.annotate.auth import User
from flames.design.collection import Collection, create_collection
from flames.store import Store


@pytest.fixture(autouse=True)
def _design_env(monkeypatch: pytest.MonkeyPatch, flames_1k: Path) -> None:
    """Cheap argon2id parameters (logins stay fast) and the shared Flames-1k copy for the duplicate search."""
    fast_argon2(monkeypatch)
    monkeypatch.setenv("FLAMES_DATA", str(flames_1k))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def people(store: Store) -> dict[str, User]:
    return make_people(store)


@pytest.fixture
def collection(store: Store, people: dict[str, User]) -> Collection:
    return create_collection(store, people["admin"], "red", licence="CC-BY-4.0", request_budget=100)
