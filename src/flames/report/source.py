"""What a report is made from: a run in the store, or a results file (official format, or another tool's)
imported as a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flames.interop.results import import_file
from flames.records import ScoredRecord
from flames.store import RunInfo, ScorerInfo, Store


@dataclass(frozen=True)
class ReportSource:
    store: Store
    run: RunInfo
    scorer: ScorerInfo
    records: list[ScoredRecord]
    """One per final outcome: answers (scored or not), blocked and no-answer slots."""

    @property
    def expected(self) -> int:
        """Answers the prompt set asks for (prompts × samples): what a rate covering every prompt rests on."""
        return self.store.counts(self.run).expected


def open_run_or_file(target: str, db: str | None = None) -> tuple[Store, RunInfo]:
    """A path to an existing file is imported into a throwaway in-memory store; anything else is a run name."""
    if Path(target).is_file():
        store = Store("sqlite://")
        return store, import_file(store, target)
    store = Store(db)
    return store, store.get_run(target)


def load_source(target: str, db: str | None = None, scorer: str | None = None) -> ReportSource:
    store, run = open_run_or_file(target, db)
    chosen = store.resolve_scorer(run, scorer)
    return ReportSource(store, run, chosen, store.scored_records(run, chosen))
