"""Annotation projects: which run's responses are labelled, by how many people, and what came of it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, insert, literal, select

from flames.annotate.errors import AnnotationError, NotFound
from flames.annotate.schema import ItemRow, ItemStatus, LabelRow, ProjectRow, UserRow
from flames.store import RunInfo, ScorerInfo, Store
from flames.store.schema import PromptRow, ResponseRow, RunRow
from flames.taxonomy import Dimension


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    run_id: int
    run_name: str
    model: str
    per_item: int


@dataclass(frozen=True)
class LabelRecord:
    label_id: int
    annotator: str
    slot: int | None
    status: str
    score: int | None
    explanation: str | None
    reason: str | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class ItemRecord:
    """One item with everything known about it: what export, agreement and the store sync need."""

    item_id: int
    response_id: int
    position: int
    prompt_id: str
    dimension: Dimension
    subcomponent: str
    prompt: str
    response: str
    status: str
    final_score: int | None
    provenance: str | None
    final_note: str | None
    adjudicator: str | None
    labels: tuple[LabelRecord, ...]
    reasoning: str | None = None
    """The model's reasoning trace: shown collapsed, apart from the response that is labelled."""

    def scores(self) -> list[int]:
        """Scores of the labels holding a slot, in slot order (the unit agreement statistics use)."""
        held = sorted((lab for lab in self.labels if lab.slot is not None), key=lambda lab: lab.slot or 0)
        return [lab.score for lab in held if lab.score is not None]


@dataclass(frozen=True)
class ImportResult:
    project: Project
    added: int
    total: int


_DIMENSION = {d.value: d for d in Dimension}


def _project(row: ProjectRow, run: RunRow) -> Project:
    return Project(row.id, row.name, run.id, run.name, run.model_spec, row.per_item)


def get_project(store: Store, name: str) -> Project:
    with store.session() as s:
        hit = s.execute(
            select(ProjectRow, RunRow).join(RunRow, RunRow.id == ProjectRow.run_id).where(ProjectRow.name == name)
        ).first()
        if hit is None:
            known = s.scalars(select(ProjectRow.name).order_by(ProjectRow.name)).all()
            hint = f" Known projects: {', '.join(known)}." if known else " Create one with `flames annotate import`."
            raise NotFound(f"no annotation project named {name!r}.{hint}")
        return _project(hit[0], hit[1])


def list_projects(store: Store) -> list[Project]:
    with store.session() as s:
        rows = s.execute(
            select(ProjectRow, RunRow).join(RunRow, RunRow.id == ProjectRow.run_id).order_by(ProjectRow.name)
        )
        return [_project(p, r) for p, r in rows]


def import_run(store: Store, run: RunInfo, name: str, per_item: int = 2) -> ImportResult:
    """Create project `name` over the run's responses, or add the run's new responses to it (idempotent)."""
    if per_item < 1:
        raise AnnotationError(f"--per-item must be at least 1 (got {per_item}); FLAMES uses 2")
    responses = store.responses(run)
    if not responses:
        raise AnnotationError(f"run {run.name!r} has no responses to annotate; collect them with `flames run`")
    with store.session() as s, s.begin():
        row = s.scalar(select(ProjectRow).where(ProjectRow.name == name))
        if row is None:
            row = ProjectRow(name=name, run_id=run.id, per_item=per_item)
            s.add(row)
            s.flush()
        elif row.run_id != run.id:
            raise AnnotationError(f"project {name!r} annotates another run; choose a new --project name")
        elif row.per_item != per_item:
            raise AnnotationError(
                f"project {name!r} was created with --per-item {row.per_item}; re-run with that value"
            )
        present = set(s.scalars(select(ItemRow.response_id).where(ItemRow.project_id == row.id)))
        start = s.scalar(select(func.coalesce(func.max(ItemRow.position) + 1, 0)).where(ItemRow.project_id == row.id))
        new = [r for r in responses if r.id not in present]
        if new:
            s.execute(
                insert(ItemRow),
                [
                    {
                        "project_id": row.id,
                        "response_id": r.id,
                        "position": (start or 0) + i,
                        "status": "labeling",
                        "version": 0,
                    }
                    for i, r in enumerate(new)
                ],
            )
    project = get_project(store, name)
    human_scorer(store, project)  # created now, so concurrent first decisions never race to create it
    return ImportResult(project, len(new), len(present) + len(new))


def human_scorer(store: Store, project: Project) -> ScorerInfo:
    """The store identity under which the project's final labels are saved as judgments."""
    config = {"project": project.name, "run": project.run_name, "per_item": project.per_item}
    return store.scorer(f"human:{project.name}", config, kind="human")


def item_records(
    store: Store,
    project: Project,
    item_ids: list[int] | None = None,
    *,
    texts: bool = True,
    labelled_only: bool = False,
) -> list[ItemRecord]:
    """Items of the project in order, with their labels (all of them, or only `item_ids`). `texts=False`
    leaves prompt and response empty (statistics need only scores: a 100k-item project loads in a fraction
    of the time); `labelled_only` keeps the items whose labelling is complete (in adjudication or done)."""
    no_text = literal("")
    q = (
        select(
            ItemRow,
            PromptRow.prompt_id,
            PromptRow.dimension,
            PromptRow.subcomponent,
            (PromptRow.text if texts else no_text).label("prompt"),
            (ResponseRow.text if texts else no_text).label("response"),
            (ResponseRow.reasoning if texts else no_text).label("reasoning"),
        )
        .join(ResponseRow, ResponseRow.id == ItemRow.response_id)
        .join(PromptRow, PromptRow.id == ResponseRow.prompt_row_id)
        .where(ItemRow.project_id == project.id)
        .order_by(ItemRow.position)
    )
    lq = select(LabelRow).join(ItemRow, ItemRow.id == LabelRow.item_id).where(ItemRow.project_id == project.id)
    if item_ids is not None:
        q = q.where(ItemRow.id.in_(item_ids))
        lq = lq.where(LabelRow.item_id.in_(item_ids))
    if labelled_only:
        q = q.where(ItemRow.status != ItemStatus.LABELING)
        lq = lq.where(ItemRow.status != ItemStatus.LABELING)
    with store.session() as s:
        names = dict(s.execute(select(UserRow.id, UserRow.username)).all())
        conn = s.connection()  # Core rows (table columns, not ORM objects): 100k-item projects load fast
        labels: dict[int, list[LabelRecord]] = defaultdict(list)
        for lab in conn.execute(lq.order_by(LabelRow.id)):
            labels[lab.item_id].append(
                LabelRecord(
                    lab.id,
                    names[lab.user_id],
                    lab.slot,
                    lab.status,
                    lab.score,
                    lab.explanation,
                    lab.reason,
                    lab.submitted_at,
                )
            )
        return [
            ItemRecord(
                row.id,
                row.response_id,
                row.position,
                row.prompt_id,
                _DIMENSION[row.dimension],
                row.subcomponent,
                row.prompt or "",
                row.response or "",
                row.status,
                row.final_score,
                row.provenance,
                row.final_note,
                names.get(row.adjudicator_id) if row.adjudicator_id is not None else None,
                tuple(labels[row.id]),
                row.reasoning or None,
            )
            for row in conn.execute(q)
        ]


def import_source(store: Store, source: str, name: str, per_item: int = 2, run_name: str | None = None) -> ImportResult:
    """`source` is a run in the store or a JSONL/CSV file with dimension, subcomponent, prompt, response
    (and optional model); a file is first imported as a run through the official-format reader."""
    if store.has_run(source):
        return import_run(store, store.get_run(source), name, per_item)
    path = Path(source)
    if not path.is_file():
        runs = ", ".join(r.name for r in store.list_runs()[-10:]) or "none"
        raise NotFound(f"{source!r} is neither a run in {store.safe_url} (known runs: {runs}) nor a file")
    from flames.official_format import import_official

    return import_run(store, import_official(store, path, run_name), name, per_item)
