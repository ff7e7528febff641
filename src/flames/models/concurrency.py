"""Adaptive concurrency and retry timing for API backends.

The limiter is AIMD, like TCP congestion control: a 429 halves the number of requests allowed in flight
(once per round of requests, so a burst of 429s caused by one overload counts once), Retry-After pauses new
requests until the server said, and each round of successes grows the limit back towards the maximum.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from email.utils import parsedate_to_datetime
from time import time

MAX_RETRY_AFTER_S = 300.0
"""A Retry-After longer than this is capped: a stalled run is worse than one more 429."""


class AdaptiveLimiter:
    """How many requests may be in flight now; `acquire` before sending, `release` after the reply."""

    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._epoch = 0
        self._successes = 0
        self._resume_at = 0.0
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> int:
        """Wait for a slot; return the epoch to hand back to `release`."""
        loop = asyncio.get_running_loop()
        if not self._waiters and self.in_flight < self.limit and loop.time() >= self._resume_at:
            self.in_flight += 1
            return self._epoch
        fut: asyncio.Future[int] = loop.create_future()
        self._waiters.append(fut)
        self._wake()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.in_flight -= 1  # granted, then cancelled: give the slot back
                self._wake()
            else:
                self._waiters.remove(fut)
            raise

    def release(self, epoch: int, *, throttled: bool = False, retry_after: float | None = None) -> None:
        """Free a slot. `throttled` (a 429) shrinks the limit unless it was already cut since `epoch`."""
        self.in_flight -= 1
        loop = asyncio.get_running_loop()
        if throttled:
            if epoch == self._epoch:
                self.limit = max(1, self.limit // 2)
                self._epoch += 1
                self._successes = 0
            if retry_after:
                self._resume_at = max(self._resume_at, loop.time() + retry_after)
        elif self.limit < self.maximum:
            self._successes += 1
            if self._successes >= self.limit:
                self.limit = min(self.maximum, self.limit + max(1, self.limit // 8))
                self._successes = 0
        self._wake()

    def _wake(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._resume_at - loop.time()
        if delay > 0:
            if self._timer is None and self._waiters:
                self._timer = loop.call_later(delay, self._on_timer)
            return
        while self._waiters and self.in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(self._epoch)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter for retry number `attempt` (1, 2, ...): half fixed, half random, so
    clients that failed together do not retry together."""
    ceiling: float = min(cap, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped; None if absent/bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = float(parsedate_to_datetime(value).timestamp()) - time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
