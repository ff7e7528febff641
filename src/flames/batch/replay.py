"""A model backend that answers from a batch's results, so that collecting a batch runs the live engines:
`generate.collect` for answers, the judge and `score.execute` for judgments, with their parsers and store
writes. A request whose result is not in the batch goes to the live `fallback` backend when there is one
(the judge's second turn after an unreadable verdict), otherwise it gets no outcome and stays pending.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from flames.models.base import ChatRequest, Failure, ModelBackend, Outcome
from flames.records import Completion


class ReplayBackend:
    """`outcomes`: request key → the batch's outcome for it; each is handed out once."""

    kind = "openai"

    def __init__(self, outcomes: Mapping[str, Completion | Failure], fallback: ModelBackend | None = None) -> None:
        self._outcomes = dict(outcomes)
        self.fallback = fallback
        self.live_requests = 0
        """Requests sent to the fallback (paid at the live price)."""
        self._started = False
        self._served: str | None = None

    async def start(self) -> None:
        """Nothing to load; the fallback starts only if a request needs it."""

    def describe(self) -> dict[str, Any]:
        return {"model": self._served, "source": "batch"}

    async def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        live: list[ChatRequest] = []
        for request in requests:
            outcome = self._outcomes.pop(request.key, None)
            if outcome is None:
                live.append(request)
                continue
            if isinstance(outcome, Completion):
                self._served = self._served or outcome.meta.get("model")
            yield request, outcome
        if live and self.fallback is not None:
            if not self._started:
                await self.fallback.start()
                self._started = True
            self.live_requests += len(live)
            async for answered in self.fallback.stream(live):
                yield answered

    async def close(self) -> None:
        if self._started and self.fallback is not None:
            await self.fallback.close()
