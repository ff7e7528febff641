"""A scorer's verdicts on a label set, keyed by label `id`: from a predictions file, from judgments in the
store, or by running a scorer on the labels' own prompts and responses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flames import aio
from flames.agreement import POOLED_SCALE
from flames.labels.readers.annotation import response_key
from flames.labels.records import LabelRecord
from flames.official_format import score_cell
from flames.prompts import PromptFileError, PromptSet, iter_rows
from flames.records import Completion, Prompt
from flames.rowfiles import describe, require_file
from flames.score import Progress, score_run
from flames.scorers.base import Scorer
from flames.store import RunInfo, RunSpec, ScorerInfo, Store


@dataclass(frozen=True)
class Prediction:
    """One verdict: a score, or None with the reason it has none."""

    score: int | None
    reason: str | None = None


@dataclass(frozen=True)
class ScorerPredictions:
    """Everything one scorer said about a label set."""

    name: str
    """How tables name the scorer: `name@hash8` for a scorer, the file name for a predictions file."""
    predictions: dict[str, Prediction]
    """Label id → verdict; a label id missing here counts as unscored ("no prediction")."""
    source: str = ""
    """'scorer:SPEC' or 'predictions:PATH'."""
    config_hash: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def read_predictions(path: Path | str) -> ScorerPredictions:
    """What `flames score FILE --out PRED.jsonl` writes: rows with `id`, `predicted` (a score or null) and
    `unscored_reason`; `sample_index` (multi-sample runs) makes the key `id#sample_index`. CSV and Parquet
    with the same columns work too. Raises PromptFileError naming file, line and field (a repeated key names
    both lines: which verdict counts would otherwise be the file order's accident)."""
    path = Path(path)
    require_file(path)
    out: dict[str, Prediction] = {}
    first_line: dict[str, int] = {}
    for line, row in iter_rows(path):
        if row.get("id") in (None, ""):
            raise PromptFileError(path, "missing `id` (the label id the prediction belongs to)", line, "id")
        if "predicted" not in row and "unscored_reason" not in row:
            raise PromptFileError(path, "no `predicted` (write the file with `flames score FILE --out PRED.jsonl`)",
                                  line, "predicted")  # fmt: skip
        key = response_key(str(row["id"]), int(row["sample_index"]) if "sample_index" in row else None)
        if key in first_line:
            raise PromptFileError(path, f"a second prediction for {key!r} (first on {describe(first_line[key])})",
                                  line, "id")  # fmt: skip
        first_line[key] = line
        score = score_cell(path, line, row.get("predicted"), POOLED_SCALE, "the scale 3/2/1")
        out[key] = (
            Prediction(score)
            if score is not None
            else Prediction(None, str(row.get("unscored_reason") or "no `predicted` in the file"))
        )
    return ScorerPredictions(path.name, out, source=f"predictions:{path}")


class UnmatchedPredictions(ValueError):
    """A predictions file none of whose ids is a label id: it was written for other answers (or keyed by
    content hashes, not label ids), and validating against it would report every label unscored."""


def match_ids(labels: Sequence[LabelRecord], predictions: ScorerPredictions) -> str | None:
    """Check that `predictions` are keyed by the labels' ids: None when every label has a prediction, a
    warning with the counts (and an example of each side) when only some have; raises UnmatchedPredictions
    when none has, naming the fix."""
    missing = [r.id for r in labels if r.id not in predictions.predictions]
    if not missing:
        return None
    example = f"e.g. label id {missing[0]!r}"
    extra = next((k for k in predictions.predictions if k not in {r.id for r in labels}), None)
    example += f", prediction id {extra!r}" if extra is not None else ""
    if len(missing) == len(labels):
        raise UnmatchedPredictions(
            f"no id in {predictions.name} is a label id ({len(predictions.predictions)} predictions, {len(labels)}"
            f" labels; {example}): validate with --scorer SPEC instead (it scores the labels' own answers), or"
            " give the scored file an `id` column holding the label ids before `flames score FILE --out PRED.jsonl`"
        )
    return (f"{len(missing)} of {len(labels)} labels have no prediction in {predictions.name} ({example}); they"
            " count as unscored")  # fmt: skip


def predictions_from_store(store: Store, run: RunInfo, scorer: ScorerInfo) -> ScorerPredictions:
    """The stored judgments of `scorer` on `run`, keyed as `flames score RUN --out` keys them."""
    judged = store.judgments(run, scorer)
    out: dict[str, Prediction] = {}
    for resp in store.responses(run):
        key = response_key(resp.prompt.id, resp.sample_index if run.samples > 1 else None)
        j = judged.get(resp.id)
        out[key] = Prediction(j.score, j.unscored_reason) if j is not None else Prediction(None, "not judged")
    label = f"{scorer.name}@{scorer.config_hash[:8]}"
    return ScorerPredictions(label, out, f"scorer:{scorer.name}", scorer.config_hash, dict(scorer.config))


def labels_run(store: Store, labels: Sequence[LabelRecord]) -> RunInfo:
    """The run holding the labels' answers in `store` (created on first use, reopened after): one prompt per
    label (its id is the label id), one stored response (the label's answer). Named `labels-SHA12` after the
    sha256 of the records, so the same label set always lands in the same run and its judgments are reused."""
    prompts = tuple(Prompt(r.id, r.dimension, r.subcomponent or "", r.prompt) for r in labels)
    digest = hashlib.sha256(json.dumps([r.to_json() for r in labels], ensure_ascii=False).encode()).hexdigest()
    name = f"labels-{digest[:12]}"
    run = store.open_run(RunSpec(name, "labels", "import", {"labels_sha256": digest}),
                         PromptSet(name, digest, "labels", prompts))  # fmt: skip
    by_id = {r.id: r for r in labels}
    for slot in store.pending(run):
        store.save_response(run.id, slot, Completion(by_id[slot.prompt.id].response))
    return store.get_run(name)


def score_labels(
    labels: Sequence[LabelRecord], scorer: Scorer, progress: Progress | None = None, store: Store | None = None
) -> ScorerPredictions:
    """Run `scorer` on the labels' prompts and responses through the scoring engine. Without `store`, in a
    throwaway in-memory store (nothing is written to the user's store); with one, in its `labels_run`, so an
    interrupted scoring resumes and a scorer never judges the same label set twice. Raises what the scorer
    raises (ScorerError…)."""
    store = store or Store("sqlite://")
    run = labels_run(store, labels)
    summary = aio.run(score_run(store, run, scorer, progress))
    found = predictions_from_store(store, store.get_run(run.name), summary.scorer)
    return ScorerPredictions(found.name, found.predictions, f"scorer:{scorer.name}", found.config_hash, found.config)
