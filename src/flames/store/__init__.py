"""The run store: prompt sets, runs, responses and judgments in SQLite (default) or any SQLAlchemy database.

The classes load SQLAlchemy, so they are imported on first use (PEP 562): `from flames.store import Store`
works as usual, while code that only needs `StoreError` (the command line at start-up) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from flames.store.errors import StoreError

if TYPE_CHECKING:
    from flames.store.api import (
        PANEL_RUN_PREFIX,
        RunCounts,
        RunInfo,
        RunSpec,
        ScorerInfo,
        Store,
        StoredResponse,
        WorkItem,
    )
    from flames.store.batches import BatchInfo, BatchItem
    from flames.store.db import DEFAULT_URL, resolve_url

__all__ = [
    "DEFAULT_URL",
    "PANEL_RUN_PREFIX",
    "BatchInfo",
    "BatchItem",
    "RunCounts",
    "RunInfo",
    "RunSpec",
    "ScorerInfo",
    "Store",
    "StoreError",
    "StoredResponse",
    "WorkItem",
    "resolve_url",
]
_HOME = {
    **dict.fromkeys(__all__, "flames.store.api"),
    **dict.fromkeys(("BatchInfo", "BatchItem"), "flames.store.batches"),
    **dict.fromkeys(("DEFAULT_URL", "resolve_url"), "flames.store.db"),
}


def __getattr__(name: str) -> Any:
    """Import the module defining one of the store's names when it is first used."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value
