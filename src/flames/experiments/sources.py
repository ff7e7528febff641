"""Answers and judgments kept in the store, so that an interrupted experiment resumes and nothing is generated
or scored twice: label files become runs (`flames.validation.labels_run`), derived answer sets (perturbed
answers) become runs of their own, and scoring goes through the scoring engine, which skips every
judgment the store already holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flames import aio
from flames.labels.records import LabelRecord, read_labels
from flames.prompts import PromptSet
from flames.records import Completion, Judgment
from flames.score import Progress, ScorePlan, ScoreSummary, claim, execute, plan
from flames.scorers.base import Scorer
from flames.store import RunInfo, RunSpec, ScorerInfo, Store, StoredResponse
from flames.validation.predictions import labels_run

ProgressFactory = Callable[[str, int], AbstractContextManager[Progress | None]]
"""(description, number of items) → a context manager yielding a per-judgment callback (or None)."""


def no_progress(_description: str, _total: int) -> AbstractContextManager[Progress | None]:
    """The ProgressFactory that shows nothing."""
    return nullcontext(None)


@dataclass(frozen=True)
class Target:
    """What an experiment runs on: a run of the store, and the labels when it was made from a label file."""

    run: RunInfo
    labels: list[LabelRecord] | None = None
    labels_path: Path | None = None


def open_target(store: Store, target: str) -> Target:
    """A path to an existing file is a label file (schema flames-eval/labels/v1), kept in the store as its
    `labels_run`; anything else is the name of a run in the store. Raises LabelFileError, StoreError."""
    path = Path(target)
    if path.is_file():
        labels = read_labels(path)
        return Target(labels_run(store, labels), labels, path)
    return Target(store.get_run(target))


def derived_run(
    store: Store, source: RunInfo, name: str, kind: str, config: dict[str, Any],
    texts: Callable[[StoredResponse], str], chosen: Iterable[StoredResponse],
) -> RunInfo:  # fmt: skip
    """A run on the source run's prompt set whose answers are `texts(response)` for the `chosen` responses of
    the source run. Created once, reopened after; answers already stored are kept (so a rerun, or more
    chosen responses, adds only what is missing). `config` is the run's identity: a changed config under
    the same name is refused by the store."""
    prompts = tuple(p for _, p in store.prompts(source.prompt_set_id))
    prompt_set = PromptSet(source.prompt_set_name, source.data_sha256, f"run:{source.name}", prompts)
    run = store.open_run(RunSpec(name, f"{kind}:{name}", kind, config, source.samples), prompt_set)
    by_slot = {(r.prompt.id, r.sample_index): r for r in chosen}
    for slot in store.pending(run):
        response = by_slot.get((slot.prompt.id, slot.sample_index))
        if response is not None:
            store.save_response(run.id, slot, Completion(texts(response)))
    return store.get_run(name)


def score_runs(
    store: Store, scorer: Scorer, runs: Sequence[tuple[RunInfo, set[int] | None]],
    progress: ProgressFactory = no_progress,
) -> ScoreSummary:  # fmt: skip
    """Judge what `scorer` has not judged yet in each run (restricted to the response ids given, or all),
    with one start and close of the scorer for all of them. Each judgment is committed as it arrives."""
    info: ScorerInfo | None = None
    pending: list[StoredResponse] = []
    total = elsewhere = 0
    with store.lease() as lease:  # what another process is judging is left to it (`score.claim`)
        for run, only in runs:
            work = plan(store, run, scorer)
            info = work.scorer
            chosen = [r for r in work.pending if only is None or r.id in only]
            mine = claim(store, lease, run, ScorePlan(info, work.total, chosen))
            pending += mine.pending
            elsewhere += mine.elsewhere
            total += work.total if only is None else len(only)
        if info is None:
            raise ValueError("score_runs needs at least one run")
        with progress(f"scoring {scorer.name.rsplit('/', 1)[-1]}", len(pending)) as bar:
            return aio.run(execute(store, scorer, ScorePlan(info, total, pending, elsewhere), bar))


def judgments_by_slot(store: Store, run: RunInfo, scorer: ScorerInfo,
                      responses: Sequence[StoredResponse]) -> dict[tuple[str, int], Judgment]:  # fmt: skip
    """(prompt id, sample index) → the scorer's judgment, for the judged ones of `responses` (the run's)."""
    judged = store.judgments(run, scorer)
    return {(r.prompt.id, r.sample_index): judged[r.id] for r in responses if r.id in judged}

