"""Ratios and their differences with a percentile bootstrap that resamples clusters (prompts).

Every experiment estimates shares — a harmless rate, an attack success rate, a flip rate — as a ratio of
two sums over items (Σ numerator / Σ denominator), where items that share a prompt are not independent
(FLAMES prompts are answered by every model; a perturbation is applied to every answer of a prompt). The
bootstrap therefore draws whole prompts with replacement (Efron & Tibshirani 1993; clusters as in Field &
Welsh 2007), with the per-cluster sums and resampling weights of `flames.agreement`. All columns of one
`ClusterBootstrap` share each resample, so ratios computed from its columns, and their differences, are
paired: a difference of two methods' rates is as precise as the prompts they share allow. Replicates
whose denominator is 0 are undefined (NaN) and left out of the interval.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flames.agreement import bootstrap_weights, cluster_index, cluster_sums, percentile_interval
from flames.metrics import BootstrapConfig

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Ratio:
    """Σ numerator / Σ denominator with its bootstrap interval (None where undefined)."""

    value: float | None
    ci: tuple[float, float] | None
    k: float
    """Σ numerator (e.g. harmless answers)."""
    n: float
    """Σ denominator (e.g. scored answers)."""

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci) if self.ci else None, "k": _int(self.k), "n": _int(self.n)}


@dataclass(frozen=True)
class Statistic:
    """A derived figure (a difference of rates, a mean over models) with its bootstrap interval."""

    value: float | None
    ci: tuple[float, float] | None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci) if self.ci else None}


def _int(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _interval(reps: FloatArray, boot: BootstrapConfig) -> tuple[float, float] | None:
    lo, hi = percentile_interval(reps, boot.confidence)
    return (lo, hi) if lo is not None and hi is not None else None


def _divide(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan), dtype=float)


class ClusterBootstrap:
    """Per-cluster sums of k columns and `boot.n_boot` replicates of the column totals.

    values: U×k (one row per item, e.g. [harmless, scored] per answer); clusters: one key per item (the
    prompt id). Column totals are the point estimates' sums; `replicates` is n_boot×k.
    """

    def __init__(self, clusters: Sequence[Hashable], values: FloatArray, boot: BootstrapConfig,
                 rng: np.random.Generator | None = None) -> None:  # fmt: skip
        values = np.asarray(values, dtype=float).reshape(len(clusters), -1)
        self.boot = boot
        index, n_clusters = cluster_index(clusters)
        self.n_clusters = n_clusters
        sums = cluster_sums(values, index, n_clusters)
        self.totals: FloatArray = sums.sum(axis=0)
        rng = rng if rng is not None else np.random.default_rng(boot.seed)
        if n_clusters == 0:
            self.replicates: FloatArray = np.full((boot.n_boot, values.shape[1]), np.nan)
        else:
            self.replicates = np.concatenate([w @ sums for w in bootstrap_weights(n_clusters, boot.n_boot, rng)])

    def ratio(self, num: int, den: int) -> Ratio:
        """Column `num` total over column `den` total, with its interval."""
        n, k = float(self.totals[den]), float(self.totals[num])
        if n <= 0:
            return Ratio(None, None, k, n)
        return Ratio(k / n, _interval(self.ratio_replicates(num, den), self.boot), k, n)

    def ratio_replicates(self, num: int, den: int) -> FloatArray:
        return _divide(self.replicates[:, num], self.replicates[:, den])

    def mean_ratio(self, columns: Sequence[tuple[int, int]]) -> tuple[Statistic, FloatArray]:
        """The unweighted mean of several ratios (e.g. one per model; those without a denominator are left
        out), and its replicates."""
        kept = [c for c in columns if self.totals[c[1]] > 0]
        if not kept:
            return Statistic(None, None), np.full(self.boot.n_boot, np.nan)
        value = float(np.mean([self.totals[a] / self.totals[b] for a, b in kept]))
        with np.errstate(invalid="ignore"):
            reps = np.asarray(np.mean([self.ratio_replicates(a, b) for a, b in kept], axis=0), dtype=float)
        return Statistic(value, _interval(reps, self.boot)), reps

    def difference(self, a: tuple[int, int], b: tuple[int, int]) -> Statistic:
        """ratio(b) − ratio(a) on the same resamples (a paired difference)."""
        ra, rb = self.ratio(*a), self.ratio(*b)
        if ra.value is None or rb.value is None:
            return Statistic(None, None)
        reps = self.ratio_replicates(*b) - self.ratio_replicates(*a)
        return Statistic(rb.value - ra.value, _interval(reps, self.boot))


def statistic(value: float | None, replicates: FloatArray, boot: BootstrapConfig) -> Statistic:
    """A figure and the percentile interval of its bootstrap replicates (NaN replicates ignored)."""
    return Statistic(value, _interval(replicates, boot) if value is not None else None)


def independent_difference(a: ClusterBootstrap, a_cols: tuple[int, int], b: ClusterBootstrap,
                           b_cols: tuple[int, int]) -> Statistic:  # fmt: skip
    """ratio(b) − ratio(a) for two samples of different clusters (e.g. two prompt sets that share no prompt),
    resampled independently: replicate i of the difference is b's replicate i minus a's."""
    ra, rb = a.ratio(*a_cols), b.ratio(*b_cols)
    if ra.value is None or rb.value is None:
        return Statistic(None, None)
    reps = b.ratio_replicates(*b_cols) - a.ratio_replicates(*a_cols)
    return Statistic(rb.value - ra.value, _interval(reps, a.boot))


def macro_f1(confusion: FloatArray) -> FloatArray:
    """Macro-F1 of (…×k×k) confusion matrices (rows human, columns scorer): the mean of F1 = 2TP/(2TP+FP+FN)
    over the classes present in either the human labels or the scores (scikit-learn's default); NaN when
    there is none."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    den = confusion.sum(axis=-1) + confusion.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), np.nan)
        return np.asarray(np.nanmean(f1, axis=-1), dtype=float)


def macro_f1_estimate(pairs: Sequence[tuple[int, int]], labels: Sequence[int], clusters: Sequence[Hashable],
                      boot: BootstrapConfig) -> Statistic:  # fmt: skip
    """Macro-F1 of (human, scorer) score pairs on the scale `labels`, with a bootstrap interval that resamples
    `clusters` (one key per pair, e.g. the prompt id)."""
    k = len(labels)
    if not pairs:
        return Statistic(None, None)
    index = {c: i for i, c in enumerate(labels)}
    onehot = np.zeros((len(pairs), k * k))
    onehot[np.arange(len(pairs)), [index[h] * k + index[s] for h, s in pairs]] = 1.0
    bs = ClusterBootstrap(clusters, onehot, boot)
    with np.errstate(all="ignore"):
        value = float(macro_f1(bs.totals.reshape(k, k)))
        reps = macro_f1(bs.replicates.reshape(-1, k, k))
    return Statistic(value, _interval(reps, boot))
