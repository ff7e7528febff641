"""Endpoint pools: one API backend spread over several servers of the same model (vLLM or SGLang replicas,
an SGLang router's workers, several keys' worth of a provider's gateways).

Every request goes to the endpoint with the fewest requests outstanding (least outstanding requests) among
those with room under their own adaptive limit (`concurrency.AimdWindow`: a 429 halves that endpoint's
limit only). An endpoint whose requests keep failing in transit (`REST_AFTER` in a row: timeouts, dropped
connections, 5xx) is rested, first for `REST_S` seconds, doubling up to `MAX_REST_S` for each further rest,
then tried again with one request; a success ends its probation. The last endpoint that is not resting is
never rested: with nowhere else to send, the backend's own retries and backoff decide. A pool of one
endpoint is exactly the single-server limiter.

Waiting requests are served first in, first out, and each release hands its slot to the next waiter, so a
request costs O(endpoints) bookkeeping whatever the number waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flames.models.base import BackendError
from flames.models.concurrency import AimdWindow
from flames.urls import masked_url

REST_AFTER = 3
"""Consecutive failures in transit after which an endpoint is rested."""
REST_S = 5.0
MAX_REST_S = 120.0

Result = Literal["ok", "failed", "throttled", "neutral"]
"""How a request ended, for the endpoint's health and limit: answered (or refused for its content: the
server works), failed in transit, answered 429, or never judged (cancelled, draining)."""


@dataclass
class Endpoint:
    url: str
    window: AimdWindow
    failures: int = 0
    """Consecutive failures in transit."""
    rests: int = 0
    """Rests since the last success (each doubles the next)."""
    rest_until: float = 0.0
    sent: int = 0
    answered: int = 0
    failed: int = 0
    rested: int = 0

    def describe(self) -> dict[str, Any]:
        """The endpoint as the run records it (its URL with credentials masked) and its counts."""
        return {
            "url": masked_url(self.url),
            "sent": self.sent,
            "answered": self.answered,
            "failed": self.failed,
            "rested": self.rested,
            "limit": self.window.limit,
        }


@dataclass(frozen=True)
class Lease:
    """A slot on one endpoint; hand it back with `EndpointPool.release`."""

    endpoint: Endpoint
    epoch: int


class EndpointPool:
    """`lease = await pool.acquire()`, send to `lease.endpoint.url`, then `pool.release(lease, result)`."""

    def __init__(
        self,
        urls: Sequence[str],
        concurrency: int,
        *,
        rest_after: int = REST_AFTER,
        rest_s: float = REST_S,
        max_rest_s: float = MAX_REST_S,
    ) -> None:
        if not urls:
            raise ValueError("an endpoint pool needs at least one URL")
        self.endpoints = [Endpoint(url, AimdWindow(concurrency)) for url in urls]
        self.rest_after, self.rest_s, self.max_rest_s = rest_after, rest_s, max_rest_s
        self._waiters: deque[asyncio.Future[Lease]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._turn = 0

    @property
    def capacity(self) -> int:
        """The most requests the pool ever lets into flight (every endpoint at its maximum)."""
        return sum(e.window.maximum for e in self.endpoints)

    def describe(self) -> list[dict[str, Any]]:
        """Per endpoint: URL (credentials masked), requests sent, answered, failed in transit, times rested,
        current limit."""
        return [e.describe() for e in self.endpoints]

    async def acquire(self) -> Lease:
        """Wait for a slot on the least loaded endpoint that is neither full, paused by Retry-After, nor resting."""
        loop = asyncio.get_running_loop()
        if not self._waiters:
            endpoint = self._pick(loop.time())
            if endpoint is not None:
                return self._lease(endpoint)
        fut: asyncio.Future[Lease] = loop.create_future()
        self._waiters.append(fut)
        self._grant()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(fut.result(), "neutral")  # granted, then cancelled: give the slot back
            else:
                self._waiters.remove(fut)
            raise

    def release(self, lease: Lease, result: Result = "ok", *, retry_after: float | None = None) -> None:
        """Hand a slot back with how its request ended; may rest the endpoint or shrink its limit."""
        now = asyncio.get_running_loop().time()
        e = lease.endpoint
        e.window.give_back(lease.epoch, now, throttled=result == "throttled", retry_after=retry_after)
        if result == "ok":
            e.answered += 1
            e.failures = e.rests = 0
        elif result == "failed":
            e.failed += 1
            e.failures += 1
            if e.failures >= self.rest_after and self._others_awake(e, now):
                e.rest_until = now + min(self.max_rest_s, self.rest_s * 2.0**e.rests)
                e.rests += 1
                e.rested += 1
                e.failures = self.rest_after - 1  # on probation: one more failure rests it again
        self._grant()

    def _lease(self, endpoint: Endpoint) -> Lease:
        endpoint.sent += 1
        return Lease(endpoint, endpoint.window.take())

    def _others_awake(self, endpoint: Endpoint, now: float) -> bool:
        return any(e is not endpoint and e.rest_until <= now for e in self.endpoints)

    def _pick(self, now: float) -> Endpoint | None:
        """The endpoint with room and the fewest outstanding requests; ties go round the pool."""
        best: Endpoint | None = None
        n = len(self.endpoints)
        for i in range(n):
            e = self.endpoints[(self._turn + i) % n]
            if e.rest_until > now or not e.window.has_room(now):
                continue
            if best is None or e.window.in_flight < best.window.in_flight:
                best = e
        self._turn = (self._turn + 1) % n
        return best

    def _grant(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiters:
            endpoint = self._pick(now)
            if endpoint is None:
                self._wake_later(now)
                return
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(self._lease(endpoint))

    def _wake_later(self, now: float) -> None:
        """With endpoints paused or resting (a full one wakes waiters when it releases), look again as soon
        as the first of them wakes."""
        times = [
            max(e.rest_until, e.window.resume_at)
            for e in self.endpoints
            if e.window.in_flight < e.window.limit and max(e.rest_until, e.window.resume_at) > now
        ]
        if not times:
            return
        due = min(times)
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._grant()


def read_endpoints(values: Iterable[str]) -> tuple[str, ...]:
    """`--base-url` values → server URLs: a value with `://` is a URL; any other value names a file of URLs,
    one per line (blank lines and `#` comments skipped). Trailing slashes are dropped; order is kept and
    repeats are removed. Raises BackendError naming the file and line of anything else."""
    urls: list[str] = []
    for value in values:
        value = value.strip()
        if "://" in value:
            urls.append(value)
            continue
        path, found = Path(value), len(urls)
        if not path.is_file():
            raise BackendError(
                f"--base-url {value!r} is neither a URL (http://host:port/v1) nor a file of URLs, one per line"
            )
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "://" not in line:
                raise BackendError(
                    f"{path}, line {number}: {line!r} is not a URL; write one server per line, e.g."
                    " http://10.0.0.5:8000/v1"
                )
            urls.append(line)
        if len(urls) == found:
            raise BackendError(f"{path}: no endpoint URLs in the file (one per line, e.g. http://10.0.0.5:8000/v1)")
    return tuple(dict.fromkeys(u.rstrip("/") for u in urls))
