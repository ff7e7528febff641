"""Train/dev/test splits of a label set that keep what must stay unseen unseen.

FLAMES prompts are answered by every model, so the same prompt appears in many labels; a split that puts
answers to one prompt on both sides lets a scorer learn the prompt instead of judging the answer. Splits:

- `model`: whole models held out (`--holdout-models`, or a share of models, or K folds of models — with K
  equal to the number of models this is leave-one-model-out). Prompts are shared across the sides: leakage,
  reported as such.
- `prompt`: whole prompts held out; no prompt leakage.
- `model+prompt`: test = held-out models × held-out prompts, train = the other models × the other prompts;
  labels in the two mixed cells are dropped (counted). The strictest: no model, no prompt seen in training.
- `random`: single labels; leaks prompts whenever a prompt has several answers (warned).

Groups are shuffled with a seeded numpy generator, so a split is reproducible from (labels, options, seed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flames.labels.importer import counts, part_manifest, write_manifest
from flames.labels.records import LabelRecord, write_labels

SPLIT_BY = ("model", "prompt", "model+prompt", "random")
SPLIT_SCHEMA = "flames-eval/labels-split/v1"


@dataclass(frozen=True)
class Split:
    """One train/dev/test partition (one fold of a K-fold split)."""

    name: str
    """'' for a single split, 'fold-1'… for folds."""
    train: list[LabelRecord]
    test: list[LabelRecord]
    dev: list[LabelRecord] = field(default_factory=list)
    dropped: int = 0
    """model+prompt: labels of a held-out model on a training prompt, or the reverse."""
    test_models: tuple[str, ...] = ()

    @property
    def leaked(self) -> tuple[int, int]:
        """(test labels whose prompt is also in train or dev, number of such prompts)."""
        seen = {r.prompt_id for r in (*self.train, *self.dev)}
        hit = [r for r in self.test if r.prompt_id in seen]
        return len(hit), len({r.prompt_id for r in hit})

    def summary(self, by: str, seed: int) -> dict[str, Any]:
        """The `split.json` of this split (schema flames-eval/labels-split/v1): counts per part, leakage."""
        leaked, prompts = self.leaked
        return {
            "schema": SPLIT_SCHEMA, "by": by, "seed": seed, "fold": self.name or None,
            "test_models": list(self.test_models),
            "parts": {name: {"n": len(part), **counts(part)} for name, part in self.parts().items()},
            "dropped": self.dropped,
            "prompt_leakage": {"test_labels": leaked, "prompts": prompts},
        }  # fmt: skip

    def parts(self) -> dict[str, list[LabelRecord]]:
        """train, test (and dev when not empty), by file name."""
        parts = {"train": self.train, "test": self.test}
        return parts | ({"dev": self.dev} if self.dev else {})


def _model(r: LabelRecord) -> str:
    if r.model is None:
        raise ValueError(f"label {r.id!r} names no model; a split by model needs `model` on every label"
                         " (pass --model to `flames labels import`)")  # fmt: skip
    return r.model


KEYS: dict[str, Callable[[LabelRecord], str]] = {
    "model": _model,
    "prompt": lambda r: r.prompt_id,
    "random": lambda r: r.id,
}


def _shuffled(groups: set[str], rng: np.random.Generator) -> list[str]:
    ordered = sorted(groups)
    return [ordered[i] for i in rng.permutation(len(ordered))]


def _partition(groups: set[str], rng: np.random.Generator, folds: int | None, test_size: float,
               fixed: Sequence[str] = ()) -> list[set[str]]:  # fmt: skip
    """Test groups of each fold: the fixed ones, K round-robin folds, or a `test_size` share (at least one)."""
    if fixed:
        missing = set(fixed) - groups
        if missing:
            raise ValueError(f"--holdout-models {', '.join(sorted(missing))} not in the labels; models: "
                             + ", ".join(sorted(groups)))  # fmt: skip
        return [set(fixed)]
    order = _shuffled(groups, rng)
    if folds is not None:
        if not 2 <= folds <= len(order):
            raise ValueError(f"--folds must be between 2 and the number of groups ({len(order)}), not {folds}")
        return [set(order[i::folds]) for i in range(folds)]
    if len(order) < 2:
        raise ValueError(f"only {len(order)} group(s) to split; nothing would be left for training")
    n_test = min(len(order) - 1, max(1, round(test_size * len(order))))
    return [set(order[:n_test])]


def _dev(train: list[LabelRecord], key: Callable[[LabelRecord], str], dev_size: float,
         rng: np.random.Generator) -> tuple[list[LabelRecord], list[LabelRecord]]:  # fmt: skip
    if dev_size <= 0:
        return train, []
    order = _shuffled({key(r) for r in train}, rng)
    dev_groups = set(order[: max(1, round(dev_size * len(order)))])
    return [r for r in train if key(r) not in dev_groups], [r for r in train if key(r) in dev_groups]


def split_labels(
    records: Sequence[LabelRecord],
    by: str,
    *,
    holdout_models: Sequence[str] = (),
    folds: int | None = None,
    test_size: float = 0.2,
    dev_size: float = 0.0,
    seed: int = 0,
) -> list[Split]:
    """The split(s) `by` describes (see the module docstring): one, or `folds` of them.

    `test_size` and `dev_size` are shares of groups (models, prompts, or labels for `random`); dev is taken
    from the training side with the same grouping (prompts for model+prompt). Raises ValueError for an
    unknown `by`, a share outside [0, 1) (`test_size` above 0), held-out models not in the labels, too few
    groups, or labels without a model for `model`.
    """
    if by not in SPLIT_BY:
        raise ValueError(f"--by must be one of {', '.join(SPLIT_BY)}, not {by!r}")
    if not 0 < test_size < 1:
        raise ValueError(f"--test-size is a share of the groups, above 0 and below 1 (e.g. 0.2), not {test_size}")
    if not 0 <= dev_size < 1:
        raise ValueError(f"--dev-size is a share of the training groups, 0 or more and below 1, not {dev_size}")
    if holdout_models and by not in ("model", "model+prompt"):
        raise ValueError("--holdout-models needs --by model or --by model+prompt")
    if holdout_models and folds:
        raise ValueError("give either --holdout-models or --folds, not both")
    rng = np.random.default_rng(seed)
    if by == "model+prompt":
        model_parts = _partition({_model(r) for r in records}, rng, folds, test_size, holdout_models)
        prompt_parts = _partition({r.prompt_id for r in records}, rng, folds, test_size)
        prompt_parts = prompt_parts * len(model_parts) if len(prompt_parts) == 1 else prompt_parts
        out = []
        for i, (models, prompts) in enumerate(zip(model_parts, prompt_parts, strict=True)):
            test = [r for r in records if _model(r) in models and r.prompt_id in prompts]
            train = [r for r in records if _model(r) not in models and r.prompt_id not in prompts]
            train, dev = _dev(train, KEYS["prompt"], dev_size, rng)
            name = f"fold-{i + 1}" if folds else ""
            out.append(Split(name, train, test, dev, len(records) - len(test) - len(train) - len(dev),
                             tuple(sorted(models))))  # fmt: skip
        return out
    key = KEYS[by]
    parts = _partition({key(r) for r in records}, rng, folds, test_size, holdout_models)
    out = []
    for i, held in enumerate(parts):
        train, dev = _dev([r for r in records if key(r) not in held], key, dev_size, rng)
        test = [r for r in records if key(r) in held]
        test_models = tuple(sorted({r.model for r in test if r.model})) if by == "model" else ()
        out.append(Split(f"fold-{i + 1}" if folds else "", train, test, dev, 0, test_models))
    return out


def write_splits(
    splits: Sequence[Split], out_dir: Path | str, by: str, seed: int, parent: Path | str | None = None
) -> list[Path]:
    """Write train/dev/test JSONL and a `split.json` summary per split (folds in `fold-K/` subfolders); with
    `parent` (the label file split), each part also gets a manifest carrying the parent's provenance and
    caveats (`importer.part_manifest`), so a validation on a part still says what its labels are."""
    written = []
    for split in splits:
        folder = Path(out_dir) / split.name if split.name else Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, part in split.parts().items():
            write_labels(part, folder / f"{name}.jsonl")
            if parent is not None:
                about = {"by": by, "seed": seed, "fold": split.name or None, "part": name}
                write_manifest(folder / f"{name}.jsonl", part_manifest(parent, folder / f"{name}.jsonl", part, about))
        summary = json.dumps(split.summary(by, seed), ensure_ascii=False, indent=2)
        (folder / "split.json").write_text(summary + "\n", encoding="utf-8")
        written.append(folder)
    return written
