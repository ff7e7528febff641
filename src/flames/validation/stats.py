"""Scorer-vs-human statistics for one group of labels (a dimension, a generating model, or all of them).

Definitions (docs/labels.md has the public schema):

- `n` counts labels the scorer scored; `n_unscored` the others (unscored, or absent from the predictions),
  which are never counted as right or wrong.
- `accuracy` = share of scored labels where the scorer's score equals the human one, with a percentile
  bootstrap interval that resamples *prompts* (all answers to one prompt move together: FLAMES prompts are
  answered by every model, so answers to one prompt are not independent); `kappa` (Cohen) and
  `kappa_linear` (linearly weighted, for the ordinal 3/2/1 scale) come with the same bootstrap.
- `confusion`: counts, rows = human score, columns = scorer score, both in `labels` order (best first).
- Per class (score): precision, recall and F1 = 2TP/(2TP+FP+FN); `macro_f1` averages F1 over the classes
  that occur in the human labels or the scorer's scores (scikit-learn's default).
- Binary view, **positive = harmless (score 3)**, as the harmless rate counts it: `sensitivity` =
  P(scorer 3 | human 3), `specificity` = P(scorer < 3 | human < 3), `balanced_accuracy` = their mean. These
  are what Rogan–Gladen needs to correct a harmless rate (flames.correction).
- `majority_baseline`: the accuracy of always answering the most frequent human score of the group.
- `inter_annotator`: agreement between the first two annotators where labels carry them — the ceiling a
  scorer can hardly beat, since people disagree that much among themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flames.agreement import Agreement, Estimate, agreement
from flames.metrics import BootstrapConfig
from flames.taxonomy import HARMLESS


@dataclass(frozen=True)
class Pair:
    """One label with the scorer's verdict on it."""

    human: int
    scorer: int | None
    prompt_id: str
    reason: str | None = None
    """Why the scorer gave no score."""
    annotators: tuple[int, ...] = ()


@dataclass(frozen=True)
class ClassStats:
    support: int
    """Human labels of this class (scored by the scorer)."""
    predicted: int
    precision: float | None
    recall: float | None
    f1: float | None


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def _est(e: Estimate) -> dict[str, float | None]:
    return {"value": e.value, "low": e.low, "high": e.high}


@dataclass(frozen=True)
class GroupValidation:
    """All figures of one group; see the module docstring for each definition."""

    labels: tuple[int, ...]
    """The scale the confusion matrix is written in, best first: (3, 2, 1) or (3, 1)."""
    n: int
    n_unscored: int
    unscored_reasons: dict[str, int]
    n_prompts: int
    accuracy: Estimate
    kappa: Estimate
    kappa_linear: Estimate
    confusion: tuple[tuple[int, ...], ...]
    per_class: dict[int, ClassStats]
    macro_f1: float | None
    sensitivity: float | None
    specificity: float | None
    human_harmless_rate: float | None
    scorer_harmless_rate: float | None
    majority_label: int | None
    majority_accuracy: float | None
    inter_annotator: Agreement | None

    @property
    def balanced_accuracy(self) -> float | None:
        """(sensitivity + specificity) / 2, None when either is undefined."""
        if self.sensitivity is None or self.specificity is None:
            return None
        return (self.sensitivity + self.specificity) / 2

    @property
    def binary_labels_only(self) -> bool:
        """A 3/2/1 group whose human labels never use 2: it cannot check the 3-vs-2 boundary."""
        return 2 in self.labels and self.n > 0 and self.per_class[2].support == 0

    def to_json(self) -> dict[str, Any]:
        """The GROUP object of the schema (docs/labels.md)."""
        ia = self.inter_annotator
        return {
            "n": self.n,
            "n_unscored": self.n_unscored,
            "unscored_reasons": self.unscored_reasons,
            "n_prompts": self.n_prompts,
            "accuracy": self.accuracy.value,
            "accuracy_ci": [self.accuracy.low, self.accuracy.high] if self.accuracy.low is not None else None,
            "macro_f1": self.macro_f1,
            "per_class": {
                str(k): {"support": c.support, "predicted": c.predicted, "precision": c.precision,
                         "recall": c.recall, "f1": c.f1}
                for k, c in self.per_class.items()
            },
            "kappa": _est(self.kappa),
            "kappa_linear": _est(self.kappa_linear),
            "confusion": {"labels": list(self.labels), "matrix": [list(r) for r in self.confusion],
                          "rows": "human", "columns": "scorer"},
            "binary": {
                "positive": "harmless (score 3)",
                "sensitivity": self.sensitivity,
                "specificity": self.specificity,
                "balanced_accuracy": self.balanced_accuracy,
            },
            "human_harmless_rate": self.human_harmless_rate,
            "scorer_harmless_rate": self.scorer_harmless_rate,
            "majority_baseline": {"label": self.majority_label, "accuracy": self.majority_accuracy},
            "binary_labels_only": self.binary_labels_only,
            "inter_annotator": None if ia is None else {
                "n": ia.n_units, "percent": _est(ia.percent), "kappa": _est(ia.kappa),
                "kappa_linear": _est(ia.weighted_kappa), "alpha_ordinal": _est(ia.alpha),
            },
        }


def _per_class(conf: np.ndarray[Any, Any], labels: Sequence[int]) -> dict[int, ClassStats]:
    out = {}
    for i, c in enumerate(labels):
        tp, support, predicted = conf[i, i], conf[i].sum(), conf[:, i].sum()
        f1_den = support + predicted  # 2TP + FP + FN
        out[c] = ClassStats(int(support), int(predicted), _ratio(tp, predicted), _ratio(tp, support),
                            _ratio(2 * tp, f1_den))  # fmt: skip
    return out


def group_validation(pairs: Sequence[Pair], labels: tuple[int, ...], boot: BootstrapConfig) -> GroupValidation:
    """The statistics of one group of (human, scorer) pairs on the scale `labels` (best first)."""
    scored = [p for p in pairs if p.scorer is not None]
    reasons = Counter(p.reason or "no reason given" for p in pairs if p.scorer is None)
    stats = agreement([(p.human, p.scorer or 0) for p in scored], labels, boot.n_boot, boot.seed, boot.confidence,
                      clusters=[p.prompt_id for p in scored])  # fmt: skip
    conf = np.array(stats.confusion, dtype=np.int64).reshape(len(labels), len(labels))
    per_class = _per_class(conf, labels)
    present = [c.f1 for c in per_class.values() if c.f1 is not None]
    h = labels.index(HARMLESS)
    tp, n = conf[h, h], int(conf.sum())
    humans = Counter(p.human for p in scored)
    majority = max(labels, key=lambda c: (humans[c], c)) if scored else None
    rated = [p for p in pairs if len(p.annotators) >= 2]
    ceiling = (
        agreement([p.annotators for p in rated], labels, boot.n_boot, boot.seed, boot.confidence,
                  clusters=[p.prompt_id for p in rated])
        if rated else None
    )  # fmt: skip
    return GroupValidation(
        labels=labels,
        n=n,
        n_unscored=len(pairs) - len(scored),
        unscored_reasons=dict(reasons.most_common()),
        n_prompts=len({p.prompt_id for p in scored}),
        accuracy=stats.percent,
        kappa=stats.kappa,
        kappa_linear=stats.weighted_kappa,
        confusion=stats.confusion,
        per_class=per_class,
        macro_f1=float(np.mean(present)) if present else None,
        sensitivity=_ratio(tp, conf[h].sum()),
        specificity=_ratio(conf.sum() - conf[h].sum() - conf[:, h].sum() + tp, conf.sum() - conf[h].sum()),
        human_harmless_rate=_ratio(conf[h].sum(), n),
        scorer_harmless_rate=_ratio(conf[:, h].sum(), n),
        majority_label=majority,
        majority_accuracy=_ratio(humans[majority], n) if majority is not None else None,
        inter_annotator=ceiling,
    )
