"""Running the async engines (collection, scoring) on the fastest event loop available.

uvloop cuts the client CPU per API request by about a fifth (docs/performance.md), which is what decides
throughput at high concurrency on a small machine; asyncio's own loop is the fallback where uvloop does
not install (Windows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on uvloop when it is installed (same Ctrl-C semantics: the main task is cancelled)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
