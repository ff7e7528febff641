"""What deleting a run takes with it, and what else in the store is built on it.

A run owns its responses, judgments and provider batches. Two kinds of records outside the run store are
built on a run and are far costlier to make again: annotation projects (human labels and adjudications; the
database refuses to delete a run they use, revision 0007_keep_labels) and prompt-design panel answers (a
try's run: evidence that reviewers read and that attack-success statistics and the acceptance gate count).
`flames runs delete` shows `contents`, and deletes dependents only of the kinds it is told to.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from flames.annotate.schema import ItemRow, LabelRow, LabelStatus, ProjectRow, Provenance
from flames.design.collection import list_collections
from flames.design.schema import DesignPromptRow
from flames.store import PANEL_RUN_PREFIX, RunInfo, Store, StoreError
from flames.store.schema import BatchRow, JudgmentRow, ResponseRow, ScorerRow

DependentKind = Literal["annotations", "design"]


@dataclass(frozen=True)
class Dependent:
    """One record built on the run: an annotation project, or a prompt-design collection's panel answers."""

    kind: DependentKind
    name: str
    """The project's or the collection's name."""
    detail: str
    """What it holds, e.g. "12 items, 24 labels (2 skipped), 4 adjudicated"."""

    def describe(self) -> str:
        what = "annotation project" if self.kind == "annotations" else "prompt-design collection"
        return f"{what} {self.name!r}: {self.detail}"


@dataclass(frozen=True)
class RunContents:
    """Everything that goes when the run is deleted: its own rows and the dependents built on it."""

    run: RunInfo
    responses: int
    judgments: dict[str, int]
    """Scorer name → judgments of this run's responses."""
    batches: int
    dependents: tuple[Dependent, ...]

    def kinds(self) -> set[DependentKind]:
        return {d.kind for d in self.dependents}

    def lines(self) -> list[str]:
        """One line per thing deleted with the run, dependents last."""
        judged = ", ".join(f"{n} by {name}" for name, n in self.judgments.items())
        out = [f"{self.responses} stored response(s) of run {self.run.name!r} (answered, blocked, no answer or failed)",
               f"{sum(self.judgments.values())} judgments" + (f" ({judged})" if judged else "")]  # fmt: skip
        if self.batches:
            out.append(f"{self.batches} provider batch record(s)")
        return out + [d.describe() for d in self.dependents]


def contents(store: Store, name: str) -> RunContents:
    """What deleting run `name` would delete. Raises StoreError when there is no such run."""
    run = store.get_run(name)
    responses = select(ResponseRow.id).where(ResponseRow.run_id == run.id)
    with store.session() as s:
        n_responses = s.scalar(select(func.count()).select_from(ResponseRow).where(ResponseRow.run_id == run.id))
        judged = s.execute(
            select(ScorerRow.name, func.count())
            .join(JudgmentRow, JudgmentRow.scorer_id == ScorerRow.id)
            .where(JudgmentRow.response_id.in_(responses))
            .group_by(ScorerRow.name)
            .order_by(ScorerRow.name)
        ).all()
        n_batches = s.scalar(select(func.count()).select_from(BatchRow).where(BatchRow.run_id == run.id))
        projects = _projects(s, run)
    dependents = (*projects, *_panel_answers(store, run))
    return RunContents(run, int(n_responses or 0), {n: int(c) for n, c in judged}, int(n_batches or 0), dependents)


def _projects(s: Session, run: RunInfo) -> list[Dependent]:
    labelled = LabelRow.status.in_((LabelStatus.LABELED, LabelStatus.FLAGGED))
    rows = s.execute(
        select(
            ProjectRow.name,
            func.count(func.distinct(ItemRow.id)),
            func.count(LabelRow.id).filter(labelled),
            func.count(LabelRow.id).filter(LabelRow.status == LabelStatus.SKIPPED),
            func.count(func.distinct(case((ItemRow.provenance == Provenance.ADJUDICATED, ItemRow.id)))),
        )
        .outerjoin(ItemRow, ItemRow.project_id == ProjectRow.id)
        .outerjoin(LabelRow, LabelRow.item_id == ItemRow.id)
        .where(ProjectRow.run_id == run.id)
        .group_by(ProjectRow.id, ProjectRow.name)
        .order_by(ProjectRow.name)
    ).all()
    out = []
    for name, items, labels, skipped, adjudicated in rows:
        also = f" ({skipped} skipped)" if skipped else ""
        detail = f"{items} items, {labels} human labels{also}, {adjudicated} adjudicated"
        out.append(Dependent("annotations", name, detail))
    return out


def _panel_answers(store: Store, run: RunInfo) -> list[Dependent]:
    """The collection whose try made this run (its prompt set is named `try:COLLECTION:UID`, see
    `flames.design.panel.prompt_set`), with the prompt it answered."""
    if not run.prompt_set_name.startswith(PANEL_RUN_PREFIX):
        return []
    for collection in list_collections(store):
        prefix = f"{PANEL_RUN_PREFIX}{collection.name}:"
        if run.prompt_set_name.startswith(prefix):
            uid = run.prompt_set_name.removeprefix(prefix)
            with store.session() as s:
                status = s.scalar(
                    select(DesignPromptRow.status).where(
                        DesignPromptRow.collection_id == collection.id, DesignPromptRow.uid == uid
                    )
                )
            state = f" ({status})" if status else " (no longer in the collection)"
            return [Dependent("design", collection.name, f"panel answers to prompt {uid!r}{state}, evidence for its"
                              " review and the collection's attack-success statistics")]  # fmt: skip
    return []


def delete_run(store: Store, name: str, allow: Collection[DependentKind] = ()) -> RunContents:
    """Delete run `name` with everything in `contents`, in one transaction, and return what was deleted.

    Raises StoreError, deleting nothing, when a dependent's kind is not in `allow` ("annotations": the
    projects with their items, labels and adjudications; "design": a try's panel answers), or when the run
    does not exist.
    """
    found = contents(store, name)
    refused = [d for d in found.dependents if d.kind not in allow]
    if refused:
        raise StoreError(f"run {name!r} is used by " + "; ".join(d.describe() for d in refused))

    def drop_projects(s: Session, run: RunInfo) -> None:
        if "annotations" in allow:  # items and labels go with their project (ON DELETE CASCADE)
            s.execute(delete(ProjectRow).where(ProjectRow.run_id == run.id))

    store.delete_run(name, first=drop_projects)
    return found
