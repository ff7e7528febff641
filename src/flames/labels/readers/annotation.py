"""`annotation:PROJECT`: the final labels of an annotation project in the store (`--db`).

One label per item that has a final score (unanimous or adjudicated); unresolved and unfinished items are
dropped and counted. Each record carries the individual annotators' scores (`annotator_labels`, in slot
order) for the inter-annotator ceiling, the project's model, and the FLAMES prompt id, so splits by prompt
and the validation bootstrap see which answers share a prompt. The record id is the prompt id (with
`#SAMPLE` when the run has several samples per prompt) — the `id` that `flames score RUN --out` writes, so
predictions for the project's run join on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from flames.labels.mapping import ImportTally, MappingRule
from flames.labels.readers.base import LabelReader, ReaderOptions
from flames.labels.records import LabelFileError, LabelRecord
from flames.store import Store

RULE = MappingRule("annotation/final-label", 1, "the project's final label (unanimous or adjudicated) as is",
                   {"3": 3, "2": 2, "1": 1})  # fmt: skip


def response_key(prompt_id: str, sample_index: int | None) -> str:
    """The id of a run's response in labels and predictions: the prompt id, plus `#SAMPLE` when the run has
    several samples per prompt (`sample_index` None otherwise)."""
    return prompt_id if sample_index is None else f"{prompt_id}#{sample_index}"


def project_labels(
    store: Store, project_name: str, tally: ImportTally, license: str | None = None
) -> list[LabelRecord]:
    """The project's final labels as records (see the module docstring)."""
    from flames.annotate.errors import NotFound
    from flames.annotate.projects import get_project, item_records
    from flames.annotate.schema import Provenance
    from flames.annotate.workflow import publish

    try:
        project = get_project(store, project_name)
    except NotFound as err:
        raise LabelFileError(f"annotation:{project_name}", str(err)) from None
    publish(store, project)
    run = store.get_run(project.run_name)
    samples = {r.id: r.sample_index if run.samples > 1 else None for r in store.responses(run)}
    out: list[LabelRecord] = []
    for item in item_records(store, project):
        if item.final_score is None:
            tally.drop(RULE, f"no final label ({item.provenance or item.status})")
            continue
        score = tally.apply(RULE, item.final_score, item.dimension)
        if score is None:
            continue
        record = LabelRecord(
            id=response_key(item.prompt_id, samples.get(item.response_id)),
            dimension=item.dimension, subcomponent=item.subcomponent, prompt=item.prompt, response=item.response,
            label=score, model=project.model, prompt_id=item.prompt_id, source=f"annotation:{project.name}",
            native_label=str(item.final_score), mapping=RULE.ref,
            provenance="adjudicated" if item.provenance == Provenance.ADJUDICATED else "human",
            license=license or "unspecified", annotator_labels=tuple(item.scores()),
        )  # fmt: skip
        out.append(record)
    return out


def read(target: str, options: ReaderOptions, tally: ImportTally) -> Iterator[LabelRecord]:
    """Records of the project `target` in the store `options.db`."""
    yield from project_labels(Store(options.db), target, tally, options.license)


READER = LabelReader(
    "annotation", "annotation:PROJECT — final labels of a `flames annotate` project in the store (--db)",
    "set with --license", (RULE,), read,
)
