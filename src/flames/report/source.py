"""What a report is made from: a run in the store, or a results file (official format, or another tool's)
imported as a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flames.interop.results import import_file
from flames.records import ScoredRecord
from flames.store import RunInfo, ScorerInfo, Store, StoreError
from flames.suggest import flames_command


@dataclass(frozen=True)
class ReportSource:
    store: Store
    run: RunInfo
    scorer: ScorerInfo
    records: list[ScoredRecord]
    """One per final outcome: answers (scored or not), blocked and no-answer slots."""
    file: str | None = None
    """The results file the report reads (imported into a throwaway store), or None for a stored run."""
    other_scorers: tuple[str, ...] = ()
    """When the scorer was chosen by default: the run's other scorers as `name@hash8`, each followed by
    " (no final judgment)" when every request it made failed in transit."""

    @property
    def expected(self) -> int:
        """Answers the prompt set asks for (prompts × samples): what a rate covering every prompt rests on."""
        return self.store.counts(self.run).expected

    @property
    def scorer_note(self) -> str | None:
        """Which scorer a report shows by default and how to pick another, when the run has several."""
        if not self.other_scorers:
            return None
        sc = self.scorer
        return (f"scorer {sc.name}@{sc.config_hash[:8]} is the newest with final judgments on run {self.run.name};"
                f" the run also has {', '.join(self.other_scorers)}. Choose one with --scorer NAME@HASH.")  # fmt: skip


def open_run_or_file(target: str, db: str | None = None) -> tuple[Store, RunInfo]:
    """A path to an existing file is imported into a throwaway in-memory store; anything else is a run name."""
    if Path(target).is_file():
        store = Store("sqlite://")
        return store, import_file(store, target)
    store = Store(db)
    return store, store.get_run(target)


def source_of(store: Store, run: RunInfo, scorer: str | None = None, file: str | None = None) -> ReportSource:
    """The run's records as `scorer` (name or `name@hash`) judged them; by default as the newest scorer with
    final judgments judged them (`Store.resolve_scorer`), naming the others. Raises StoreError."""
    chosen = store.resolve_scorer(run, scorer)
    others: tuple[str, ...] = ()
    if scorer is None:
        final = {sc.id for sc in store.scorers_for(run, final_only=True)}
        others = tuple(
            f"{sc.name}@{sc.config_hash[:8]}" + ("" if sc.id in final else " (no final judgment)")
            for sc in store.scorers_for(run) if sc.id != chosen.id
        )  # fmt: skip
    return ReportSource(store, run, chosen, store.scored_records(run, chosen), file, others)


def load_source(target: str, db: str | None = None, scorer: str | None = None) -> ReportSource:
    """A run (by name) or a results file as a report source. Raises StoreError (a file without scores says
    how to score it) and what reading the file raises."""
    store, run = open_run_or_file(target, db)
    if not Path(target).is_file():
        return source_of(store, run, scorer)
    if not store.scorers_for(run):
        how = flames_command("score", str(target), "--scorer", "SPEC")
        raise StoreError(f"{target} has no `predicted` scores; score it with `{how}`"
                         " (it then becomes a run in the store, reported with `flames report RUN`)")  # fmt: skip
    return source_of(store, run, scorer, file=target)
