"""Leave-one-model-out: for each generating model in a label set, train on the other models' labels and score
the held-out model's, so every label gets a verdict from a scorer that never saw its model's answers.

This is the FLAMES paper's generalisation protocol (its scorer is validated on LLMs absent from training).
The out-of-fold verdicts are returned as one `ScorerPredictions`, so `flames.validation` reports them like
any scorer: per held-out model (its `models` rows) and pooled (`overall`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flames.labels.records import LabelRecord
from flames.store import Store
from flames.training.api import train_or_reuse
from flames.training.config import TrainConfig, TrainingError
from flames.training.events import EventSink, TrainEvent, ignore
from flames.validation.predictions import Prediction, ScorerPredictions, score_labels

DEV_FRACTION = 0.1
"""Share of a fold's training prompts held back as dev labels (early stopping) for transformer backbones."""


@dataclass(frozen=True)
class Fold:
    """One held-out model: how many labels trained, tuned and tested its scorer, and where the scorer is."""

    model: str
    n_train: int
    n_dev: int
    n_test: int
    shared_prompts: int
    """Held-out prompts that the fold's training labels also answer (0 with `unseen_prompts`)."""
    scorer_dir: Path
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "n_train": self.n_train, "n_dev": self.n_dev, "n_test": self.n_test,
                "shared_prompts": self.shared_prompts, "scorer_dir": str(self.scorer_dir),
                "seconds": round(self.seconds, 2)}  # fmt: skip


@dataclass(frozen=True)
class LeaveOneModelOut:
    """Out-of-fold verdicts for every label that names its model, and the folds that produced them."""

    predictions: ScorerPredictions
    folds: list[Fold]
    labels: list[LabelRecord]
    """The labels validated: those with a `model`."""
    skipped_without_model: int


def leave_one_model_out(
    labels: Sequence[LabelRecord],
    config: TrainConfig,
    work_dir: Path,
    *,
    unseen_prompts: bool = False,
    seed: int = 0,
    on_event: EventSink = ignore,
    on_fold: Callable[[Fold], None] | None = None,
    store: Store | None = None,
) -> LeaveOneModelOut:
    """Train one scorer per held-out model (with `config`) under `work_dir/MODEL/` and score the held-out labels.

    A fold folder that already holds a scorer trained on the same labels and settings (an interrupted earlier
    call) is reused (`train_or_reuse`); with a `store`, the held-out verdicts are kept there too, so a rerun
    scores nothing twice.

    unseen_prompts: also drop from each fold's training labels every prompt the held-out model answered, so the
    figures measure new models *and* new prompts. Transformer folds hold back `DEV_FRACTION` of their training
    prompts (seeded) as dev labels for early stopping; tfidf folds train on everything.
    Raises TrainingError when fewer than two models are named, or a fold has no training labels left.
    """
    named = [r for r in labels if r.model]
    models = sorted({str(r.model) for r in named})
    if len(models) < 2:
        raise TrainingError(f"leave-one-model-out needs labels from at least two models (field `model`); found "
                            f"{len(models)}")  # fmt: skip
    predictions: dict[str, Prediction] = {}
    folds = []
    for index, model in enumerate(models, 1):
        test = [r for r in named if r.model == model]
        held_prompts = {r.prompt_id for r in test}
        train = [r for r in named if r.model != model and not (unseen_prompts and r.prompt_id in held_prompts)]
        if not train:
            raise TrainingError(f"fold {model}: no training labels left once its prompts are removed")
        train, dev = (train, []) if config.is_tfidf else _dev_split(train, seed)
        started = time.perf_counter()
        on_event(TrainEvent("note", message=f"fold {model}: training on {len(train)} labels of other models"))
        out = work_dir / f"{index:02d}-{_folder_name(model)}"
        trained = train_or_reuse(train, dev, replace(config, name=f"lomo-{model}"), out, on_event=on_event)
        found = score_labels(test, trained.scorer(), store=store)
        predictions.update(found.predictions)
        fold = Fold(model, len(train), len(dev), len(test), len(held_prompts & {r.prompt_id for r in train}), out,
                    time.perf_counter() - started)  # fmt: skip
        folds.append(fold)
        if on_fold is not None:
            on_fold(fold)
    config_json = {"protocol": "leave-one-model-out", "unseen_prompts": unseen_prompts, "seed": seed,
                   "training": config.to_json(), "folds": [f.to_json() for f in folds]}  # fmt: skip
    oof = ScorerPredictions(f"lomo:{config.backbone}", predictions, source="leave-one-model-out", config=config_json)
    return LeaveOneModelOut(oof, folds, named, len(labels) - len(named))


def _dev_split(train: list[LabelRecord], seed: int) -> tuple[list[LabelRecord], list[LabelRecord]]:
    """Hold back DEV_FRACTION of the prompts (all their answers), at least one, when there are two or more."""
    prompts = sorted({r.prompt_id for r in train})
    if len(prompts) < 2:
        return train, []
    random.Random(seed).shuffle(prompts)
    dev_prompts = set(prompts[: max(1, round(len(prompts) * DEV_FRACTION))])
    return [r for r in train if r.prompt_id not in dev_prompts], [r for r in train if r.prompt_id in dev_prompts]


def _folder_name(model: str) -> str:
    """A file-system-safe folder name for a model name (slashes and the like become '_')."""
    return re.sub(r"[^\w.-]+", "_", model).strip("._") or "model"
