"""The scorer interface: items in, judgments out, each with a score on its dimension's scale or a reason.

Scorers are identified by a name (the spec the user typed, e.g. `flames`, `judge:openai:gpt-4o`) plus a
config whose hash keeps differently configured scorers apart in the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

from flames.records import Item, Judgment


class ScorerError(Exception):
    """A scorer that cannot start (missing weights, unsafe checkpoint without opt-in); the message says the fix."""


@runtime_checkable
class Scorer(Protocol):
    name: str
    """Stable identity, e.g. 'flames', 'flames-faithful', 'judge:openai:qwen-max'."""
    kind: str
    """'model' or 'human'."""

    def config(self) -> dict[str, Any]:
        """Everything that can change a verdict (checkpoint hash, mode, max length, prompt version...)."""

    async def start(self) -> None: ...

    def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        """Yield one judgment per item (matched by `key`) as soon as it is known, in any order."""

    async def close(self) -> None: ...
