"""Fixtures for the prompt design tests: the annotation app's (a store on SQLite and PostgreSQL, cheap argon2id
parameters), accounts of every role, a collection, Flames-1k visible to the duplicate search."""

from __future__ import annotations

from pathlib import Path

import design_support  # first: it puts the annotation tests' helpers on the path
import pytest
from annotate import conftest as annotation

from flames.annotate.auth import User
from flames.design.collection import Collection, create_collection
from flames.store import Store

store = annotation.store
_fast_argon2 = annotation._fast_argon2
"""The annotation app's fixtures, shared: a store on SQLite and PostgreSQL, cheap argon2id parameters."""


@pytest.fixture(autouse=True)
def _flames_1k_visible(monkeypatch: pytest.MonkeyPatch, flames_1k: Path) -> None:
    """The shared Flames-1k copy for the duplicate search."""
    monkeypatch.setenv("FLAMES_DATA", str(flames_1k))


@pytest.fixture
def people(store: Store) -> dict[str, User]:
    return design_support.make_people(store)


@pytest.fixture
def collection(store: Store, people: dict[str, User]) -> Collection:
    return create_collection(store, people["admin"], "red", licence="CC-BY-4.0", request_budget=100)
