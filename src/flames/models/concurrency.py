"""Adaptive concurrency and retry timing for API backends.

`AimdWindow` is one server's limit, AIMD like TCP congestion control: a 429 halves the number of requests
allowed in flight (once per round of requests, so a burst of 429s caused by one overload counts once),
Retry-After pauses new requests until the server said, and each round of successes grows the limit back
towards the maximum. Waiting for room, and choosing among several servers, is `flames.models.pool`'s job.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from time import time

MAX_RETRY_AFTER_S = 300.0
"""A Retry-After longer than this is capped: a stalled run is worse than one more 429."""


class AimdWindow:
    """How many requests one server may have in flight now: `take` a slot before sending (when `has_room`),
    `give_back` after the reply. Times are event-loop seconds (`loop.time()`); no waiting happens here."""

    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.resume_at = 0.0
        """No new request before this time (Retry-After)."""
        self._epoch = 0
        self._successes = 0

    def has_room(self, now: float) -> bool:
        return self.in_flight < self.limit and now >= self.resume_at

    def take(self) -> int:
        """Occupy a slot; return the epoch to hand back to `give_back`."""
        self.in_flight += 1
        return self._epoch

    def give_back(self, epoch: int, now: float, *, throttled: bool = False, retry_after: float | None = None) -> None:
        """Free a slot. `throttled` (a 429) halves the limit unless it was already cut since `epoch`."""
        self.in_flight -= 1
        if throttled:
            if epoch == self._epoch:
                self.limit = max(1, self.limit // 2)
                self._epoch += 1
                self._successes = 0
            if retry_after:
                self.resume_at = max(self.resume_at, now + retry_after)
        elif self.limit < self.maximum:
            self._successes += 1
            if self._successes >= self.limit:
                self.limit = min(self.maximum, self.limit + max(1, self.limit // 8))
                self._successes = 0


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
