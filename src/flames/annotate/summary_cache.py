"""The agreement page's figures, cached per project so that a large project's page answers at once.

Agreement with bootstrap intervals over 100,000 items takes seconds of CPU, yet the figures change only when
an item leaves labelling or is decided (`summarize` counts only those items). A cheap fingerprint of those
items (how many, and the sum of their versions: every write on an item bumps its version) says whether the
cached figures are current. When they are not, the last figures are shown at once, marked as being
refreshed, while one background computation brings them up to date. A project's first view waits for that
computation at most `wait_s` (then the page says the figures are being computed and reloads itself), and
concurrent first views share the one computation instead of each running its own. Progress counts are read
fresh on every view (three grouped counts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select

from flames.annotate.projects import Project
from flames.annotate.schema import ItemRow, ItemStatus
from flames.annotate.summary import Summary, summarize
from flames.annotate.workflow import Progress, progress
from flames.store import Store
from flames.store.schema import utcnow

log = logging.getLogger(__name__)
Fingerprint = tuple[int, int]
_Entry = tuple[Fingerprint, Summary, datetime]


@dataclass(frozen=True)
class CachedSummary:
    progress: Progress
    """Always current."""
    summary: Summary | None
    """The figures (with the current progress), or None while the project's first computation runs."""
    computed_at: datetime | None
    """When the figures were computed (UTC)."""
    current: bool
    """False while newer decisions are being added to the figures (or the first figures computed)."""


def fingerprint(store: Store, project: Project) -> Fingerprint:
    """(items that left labelling, sum of their versions): changes whenever the agreement figures may."""
    with store.session() as s:
        n, versions = s.execute(
            select(func.count(), func.coalesce(func.sum(ItemRow.version), 0)).where(
                ItemRow.project_id == project.id, ItemRow.status != ItemStatus.LABELING
            )
        ).one()
    return int(n), int(versions)


class SummaryCache:
    """Figures of `compute` (by default `summarize`) per project, refreshed by one background worker."""

    def __init__(self, compute: Callable[[Store, Project], Summary] = summarize, wait_s: float = 1.0):
        self._compute, self.wait_s = compute, wait_s
        self._lock = threading.Lock()
        self._done: dict[int, _Entry] = {}
        self._running: dict[int, Future[_Entry]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flames-agreement")

    def get(self, store: Store, project: Project) -> CachedSummary:
        """The project's figures: current ones, or the last ones while a refresh runs; a first view waits for
        its computation at most `wait_s` seconds."""
        now = fingerprint(store, project)
        with self._lock:
            done = self._done.get(project.id)
            future = None
            if done is None or done[0] != now:
                future = self._running.get(project.id)
                if future is None:
                    future = self._running[project.id] = self._pool.submit(self._refresh, store, project)
        now_progress = progress(store, project)
        if done is None:
            assert future is not None
            try:
                done, future = future.result(timeout=self.wait_s), None
            except TimeoutError:
                return CachedSummary(now_progress, None, None, False)
        return CachedSummary(now_progress, replace(done[1], progress=now_progress), done[2], future is None)

    def _refresh(self, store: Store, project: Project) -> _Entry:
        try:
            entry = (fingerprint(store, project), self._compute(store, project), utcnow())
            with self._lock:
                self._done[project.id] = entry
            return entry
        except Exception:
            log.exception("agreement figures of project %r could not be computed", project.name)
            raise
        finally:
            with self._lock:
                self._running.pop(project.id, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
