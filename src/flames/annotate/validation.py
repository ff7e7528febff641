"""A scorer measured against an annotation project's final labels — the same validation as
`flames scorer validate` (flames.validation), fed from the store: the project's final labels (unanimous or
adjudicated; unresolved items are not ground truth) and the scorer's stored judgments of the project's run.
"""

from __future__ import annotations

from flames.annotate.projects import Project
from flames.labels.mapping import ImportTally
from flames.labels.readers.annotation import project_labels
from flames.metrics import BootstrapConfig
from flames.store import ScorerInfo, Store
from flames.validation import ScorerValidation, predictions_from_store, validate_scorer


def scorer_vs_human(
    store: Store, project: Project, scorer: ScorerInfo, boot: BootstrapConfig | None = None
) -> tuple[ScorerValidation, int]:
    """(the scorer's validation against the project's final labels, the number of those labels)."""
    labels = project_labels(store, project.name, ImportTally())
    run = store.get_run(project.run_name)
    return validate_scorer(labels, predictions_from_store(store, run, scorer), boot), len(labels)
