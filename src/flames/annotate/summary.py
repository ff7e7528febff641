"""A project's state in numbers: progress, agreement per dimension and overall, per-annotator counts.

Shared by the agreement page and `flames annotate status`, so both always show the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from flames.agreement import POOLED_SCALE, Agreement, agreement
from flames.annotate.agreement import AnnotatorLabel, AnnotatorStats, per_annotator
from flames.annotate.projects import Project, item_records
from flames.annotate.schema import LabelStatus
from flames.annotate.workflow import Progress, progress
from flames.store import Store
from flames.taxonomy import DIMENSIONS, Dimension, info


@dataclass(frozen=True)
class Summary:
    project: Project
    progress: Progress
    by_dimension: dict[Dimension, Agreement]
    overall: Agreement
    annotators: list[AnnotatorStats]


def summarize(store: Store, project: Project, n_boot: int = 1000, seed: int = 0) -> Summary:
    """Agreement over every item with two or more scores; overall pools dimensions on the 3/2/1 scale.
    Only items whose labelling is complete count (agreement and per-annotator figures alike): figures that
    moved with each new label would reveal, to whoever watches them, the label of an item still blind."""
    records = item_records(store, project, texts=False, labelled_only=True)
    units = {d: [r.scores() for r in records if r.dimension == d] for d in DIMENSIONS}
    by_dimension = {d: agreement(units[d], info(d).scale, n_boot, seed) for d in DIMENSIONS if units[d]}
    overall = agreement([u for us in units.values() for u in us], POOLED_SCALE, n_boot, seed)
    labels = [
        AnnotatorLabel(lab.annotator, lab.status, lab.score, r.final_score)
        for r in records
        for lab in r.labels
        if lab.status != LabelStatus.PENDING
    ]
    return Summary(project, progress(store, project), by_dimension, overall, per_annotator(labels))
