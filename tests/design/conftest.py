"""Fixtures for the prompt design tests: a store on SQLite and PostgreSQL, accounts of every role, a
collection, Flames-1k visible to the duplicate search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from design_support import make_people

from flames.annotate import auth
from flames.annotate.auth import User
from flames.design.collection import Collection, create_collection
from flames.store import Store


@pytest.fixture(autouse=True)
def _design_env(monkeypatch: pytest.MonkeyPatch, flames_1k: Path) -> None:
    """Cheap argon2id parameters (logins stay fast) and the shared Flames-1k copy for the duplicate search."""
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
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
