"""Validate one or more scorers against a label set: statistics per dimension, per generating model and
overall, and paired tests between scorers (schema `flames-eval/validation/v1`, docs/labels.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from flames.agreement import POOLED_SCALE, bootstrap_weights, cluster_index, cluster_sums, percentile_interval
from flames.labels.records import LabelRecord
from flames.metrics import BootstrapConfig
from flames.paired import mcnemar_exact
from flames.provenance import tool_version
from flames.taxonomy import DIMENSIONS, Dimension, info
from flames.validation.predictions import Prediction, ScorerPredictions
from flames.validation.stats import GroupValidation, Pair, group_validation

SCHEMA = "flames-eval/validation/v1"
NO_PREDICTION = "no prediction for this label id"


@dataclass(frozen=True)
class ScorerValidation:
    """One scorer against the labels."""

    scorer: ScorerPredictions
    overall: GroupValidation
    """All labels pooled, on the 3/2/1 scale (3/1 dimensions simply never use 2)."""
    dimensions: dict[Dimension, GroupValidation]
    models: dict[str, GroupValidation]
    """Per generating model (labels with a `model`), pooled over dimensions."""

    def to_json(self) -> dict[str, Any]:
        """One entry of the schema's `scorers` list."""
        sc = self.scorer
        return {
            "scorer": {"name": sc.name, "source": sc.source, "config_hash": sc.config_hash, "config": sc.config},
            "overall": self.overall.to_json(),
            "dimensions": {d.value: g.to_json() for d, g in self.dimensions.items()},
            "models": {m: g.to_json() for m, g in self.models.items()},
        }


@dataclass(frozen=True)
class PairedAccuracy:
    """Scorer B's accuracy minus scorer A's, on the labels both scored (positive: B agrees more with humans)."""

    a: str
    b: str
    n: int
    accuracy_a: float | None
    accuracy_b: float | None
    diff: float | None
    diff_ci: tuple[float | None, float | None]
    p_value: float | None
    """Two-sided prompt-clustered sign-flip randomization test of equal accuracy."""
    a_only_correct: int
    b_only_correct: int
    mcnemar_p: float | None
    """Exact McNemar test on single labels (ignores prompt clustering; for reference)."""

    def to_json(self) -> dict[str, Any]:
        """One entry of the schema's `comparisons` list."""
        return {
            "a": self.a, "b": self.b, "n": self.n, "accuracy_a": self.accuracy_a, "accuracy_b": self.accuracy_b,
            "diff": self.diff, "diff_ci": list(self.diff_ci) if self.diff_ci[0] is not None else None,
            "p_value": self.p_value, "test": "prompt-clustered sign-flip randomization (two-sided)",
            "a_only_correct": self.a_only_correct, "b_only_correct": self.b_only_correct,
            "mcnemar_p": self.mcnemar_p,
        }  # fmt: skip


@dataclass(frozen=True)
class ValidationReport:
    """Every scorer's validation on one label set, and the paired comparisons between them."""

    scorers: list[ScorerValidation]
    comparisons: list[PairedAccuracy]
    bootstrap: BootstrapConfig
    labels_info: dict[str, Any] = field(default_factory=dict)
    """Where the labels came from: path, sha256, count, and the import manifest's caveats."""

    def to_json(self) -> dict[str, Any]:
        """The public schema `flames-eval/validation/v1` (docs/labels.md)."""
        return {
            "schema": SCHEMA,
            "labels": self.labels_info,
            "scorers": [s.to_json() for s in self.scorers],
            "comparisons": [c.to_json() for c in self.comparisons],
            "bootstrap": {"n_boot": self.bootstrap.n_boot, "confidence": self.bootstrap.confidence,
                          "seed": self.bootstrap.seed, "resampling_unit": "prompt"},
            "definitions": {
                "positive_class": "harmless (score 3): sensitivity = P(scorer 3 | human 3), specificity ="
                                  " P(scorer < 3 | human < 3)",
                "confusion": "rows = human score, columns = scorer score, in `labels` order",
                "unscored": "labels the scorer did not score are counted in n_unscored, never as right or wrong",
            },
            "tool_version": tool_version(),
        }


def pairs_of(labels: Sequence[LabelRecord], predictions: ScorerPredictions) -> list[Pair]:
    """Each label joined (on `id`) with the scorer's verdict. A missing verdict, or a score off the label's
    dimension scale (a 2 on Legality: the file was scored against another dimension), is unscored, with
    the reason."""
    missing = Prediction(None, NO_PREDICTION)
    out = []
    for r in labels:
        p = predictions.predictions.get(r.id, missing)
        scale = info(r.dimension).scale
        if p.score is not None and p.score not in scale:
            scale_text = "/".join(map(str, scale))
            p = Prediction(None, f"predicted {p.score} is off the {r.dimension.value} scale {scale_text}")
        out.append(Pair(r.label, p.score, r.prompt_id, p.reason, r.annotator_labels))
    return out


def validate_scorer(
    labels: Sequence[LabelRecord], predictions: ScorerPredictions, boot: BootstrapConfig | None = None
) -> ScorerValidation:
    """One scorer's statistics per dimension, per generating model and overall (see `flames.validation.stats`);
    labels join predictions as `pairs_of` says."""
    boot = boot or BootstrapConfig()
    pairs = pairs_of(labels, predictions)
    dims = {
        d: group_validation([p for p, r in zip(pairs, labels, strict=True) if r.dimension == d], info(d).scale, boot)
        for d in DIMENSIONS if any(r.dimension == d for r in labels)
    }  # fmt: skip
    models = sorted({r.model for r in labels if r.model})
    by_model = {
        m: group_validation([p for p, r in zip(pairs, labels, strict=True) if r.model == m], POOLED_SCALE, boot)
        for m in models
    }
    return ScorerValidation(predictions, group_validation(pairs, POOLED_SCALE, boot), dims, by_model)


def paired_accuracy(
    labels: Sequence[LabelRecord], a: ScorerPredictions, b: ScorerPredictions, boot: BootstrapConfig
) -> PairedAccuracy:
    """B's accuracy minus A's on the labels both scored: a prompt-clustered bootstrap interval and a
    prompt-clustered sign-flip randomization p-value (swapping A and B within whole prompts), plus the
    exact McNemar p-value on single labels."""
    both = [(r, a.predictions[r.id].score, b.predictions[r.id].score) for r in labels
            if r.id in a.predictions and r.id in b.predictions]  # fmt: skip
    both = [(r, sa, sb) for r, sa, sb in both if sa is not None and sb is not None]
    if not both:
        return PairedAccuracy(a.name, b.name, 0, None, None, None, (None, None), None, 0, 0, None)
    ca = np.array([sa == r.label for r, sa, _ in both], dtype=float)
    cb = np.array([sb == r.label for r, _, sb in both], dtype=float)
    index, n_clusters = cluster_index([r.prompt_id for r, _, _ in both])
    sums = cluster_sums(np.stack([ca, cb, np.ones_like(ca)], axis=1), index, n_clusters)
    rng = np.random.default_rng(boot.seed)
    reps = np.concatenate([(w @ sums[:, 1] - w @ sums[:, 0]) / (w @ sums[:, 2])
                           for w in bootstrap_weights(n_clusters, boot.n_boot, rng)])  # fmt: skip
    d = sums[:, 0] - sums[:, 1]
    flips = rng.choice([-1.0, 1.0], size=(boot.n_boot, n_clusters))
    p_value = (1 + int((np.abs(flips @ d) >= abs(d.sum()) - 1e-9).sum())) / (1 + boot.n_boot)
    a_only, b_only = int(((ca == 1) & (cb == 0)).sum()), int(((ca == 0) & (cb == 1)).sum())
    return PairedAccuracy(
        a.name, b.name, len(both), float(ca.mean()), float(cb.mean()), float(cb.mean() - ca.mean()),
        percentile_interval(reps, boot.confidence), p_value, a_only, b_only, mcnemar_exact(a_only, b_only),
    )  # fmt: skip


def validate(
    labels: Sequence[LabelRecord],
    systems: Sequence[ScorerPredictions],
    boot: BootstrapConfig | None = None,
    labels_info: dict[str, Any] | None = None,
) -> ValidationReport:
    """Validate every scorer in `systems` on `labels`, and compare each pair (in the order given).

    `labels_info` is copied into the report (path, sha256, manifest caveats); the statistics need only the
    records. Raises ValueError when there are no labels or no scorer.
    """
    if not labels or not systems:
        raise ValueError("validation needs at least one label and one scorer")
    boot = boot or BootstrapConfig()
    scorers = [validate_scorer(labels, s, boot) for s in systems]
    comparisons = [paired_accuracy(labels, a, b, boot) for a, b in combinations(systems, 2)]
    return ValidationReport(scorers, comparisons, boot, labels_info or {"n": len(labels)})
