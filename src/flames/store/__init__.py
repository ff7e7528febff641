"""The run store: prompt sets, runs, responses and judgments in SQLite (default) or any SQLAlchemy database."""

from flames.store.api import (
    RunCounts,
    RunInfo,
    RunSpec,
    ScorerInfo,
    Store,
    StoredResponse,
    StoreError,
    WorkItem,
)
from flames.store.batches import BatchInfo, BatchItem
from flames.store.db import DEFAULT_URL, resolve_url

__all__ = [
    "DEFAULT_URL",
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
