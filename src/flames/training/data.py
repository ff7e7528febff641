"""Label records as training data: fingerprints, class counts, the split summary and dev metrics."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from flames.labels.records import LabelRecord
from flames.records import Item, Judgment
from flames.taxonomy import DIMENSIONS, Dimension, info


def labels_sha256(records: Sequence[LabelRecord]) -> str:
    """sha256 of the records as `write_labels` writes them, so it equals the sha256 of a file it wrote."""
    digest = hashlib.sha256()
    for record in records:
        digest.update((json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode())
    return digest.hexdigest()


def label_counts(records: Sequence[LabelRecord]) -> dict[Dimension, dict[int, int]]:
    """Dimension → score → number of labels."""
    counts: dict[Dimension, Counter[int]] = {}
    for r in records:
        counts.setdefault(r.dimension, Counter())[r.label] += 1
    return {d: dict(c) for d, c in counts.items()}


def split_summary(train: Sequence[LabelRecord], dev: Sequence[LabelRecord]) -> dict[str, Any]:
    """Which models and how many prompts each side holds, and the prompts both share (a leak to report:
    FLAMES prompts are answered by every model, so a split by model alone shares all of them)."""
    train_prompts = {r.prompt_id for r in train}
    dev_prompts = {r.prompt_id for r in dev}
    return {
        "train_models": sorted({r.model for r in train if r.model}),
        "dev_models": sorted({r.model for r in dev if r.model}),
        "train_prompts": len(train_prompts),
        "dev_prompts": len(dev_prompts),
        "shared_prompts": len(train_prompts & dev_prompts),
    }


def as_items(records: Sequence[LabelRecord]) -> list[Item]:
    """Records as scorer items, keyed by position (ids may repeat across files)."""
    return [Item(str(i), r.dimension, r.prompt, r.response) for i, r in enumerate(records)]


def dev_metrics(records: Sequence[LabelRecord], judgments: Sequence[Judgment]) -> dict[str, Any]:
    """Accuracy and macro-F1 per dimension and overall, of judgments keyed like `as_items(records)`.

    Per dimension, macro-F1 averages scikit-learn's F1 over the classes of the dimension's scale (a class
    neither labelled nor predicted counts 0); overall macro-F1 is the unweighted mean over the dimensions
    present (the early-stopping criterion), overall accuracy is over all scored items. Unscored items are
    counted in `n_unscored` and left out of both.
    """
    from sklearn.metrics import f1_score

    by_key = {j.key: j for j in judgments}
    out: dict[str, Any] = {"dimensions": {}}
    correct = scored = unscored = 0
    f1s = []
    for dim in DIMENSIONS:
        rows = [(r, by_key[str(i)]) for i, r in enumerate(records) if r.dimension == dim]
        if not rows:
            continue
        pairs = [(r.label, j.score) for r, j in rows if j.score is not None]
        n_unscored = len(rows) - len(pairs)
        unscored += n_unscored
        if not pairs:
            out["dimensions"][dim.value] = {"n": 0, "n_unscored": n_unscored, "accuracy": None, "macro_f1": None}
            continue
        truth, predicted = zip(*pairs, strict=True)
        hits = sum(t == p for t, p in pairs)
        f1 = float(f1_score(truth, predicted, labels=list(info(dim).scale), average="macro", zero_division=0))
        out["dimensions"][dim.value] = {"n": len(pairs), "n_unscored": n_unscored, "accuracy": hits / len(pairs),
                                        "macro_f1": f1}  # fmt: skip
        correct, scored = correct + hits, scored + len(pairs)
        f1s.append(f1)
    out["overall"] = {"n": scored, "n_unscored": unscored, "accuracy": correct / scored if scored else None,
                      "macro_f1": sum(f1s) / len(f1s) if f1s else None}  # fmt: skip
    return out
