"""Agreement statistics shared by annotation, validation and reports: percent agreement, Cohen's kappa
(plain and linearly weighted), Krippendorff's alpha, and their percentile-bootstrap intervals.

A *unit* is the list of scores one item received, in order: two annotators' labels, or (human, scorer) when
a scorer is validated against people. Every statistic is computed from per-unit contributions (a pair
one-hot for kappa, a coincidence matrix for alpha), so a bootstrap resample is one matrix product instead of
a Python loop: 1,000 resamples of a few thousand items take milliseconds. The bootstrap resamples *clusters*
of units (e.g. all answers to one prompt, which are not independent) when clusters are given, single units
otherwise. Undefined values (kappa when chance agreement is total, alpha without variation) are None, never 0.

Sources: Cohen (1960) and Cohen (1968) for weighted kappa; Krippendorff, *Content Analysis* (2004), ch. 11,
for alpha with the ordinal metric; Efron & Tibshirani (1993) for the percentile bootstrap, resampling
clusters as in Field & Welsh (2007).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Units = Sequence[Sequence[int]]
POOLED_SCALE = (3, 2, 1)
"""Category order when dimensions with 3/2/1 and 3/1 scales are pooled into one overall figure."""
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile-bootstrap interval over items (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Agreement:
    categories: tuple[int, ...]
    """Score order of the confusion matrix rows and columns (best first)."""
    n_units: int
    """Items with at least two scores (the only ones that say anything about agreement)."""
    percent: Estimate
    kappa: Estimate
    weighted_kappa: Estimate
    alpha: Estimate
    confusion: tuple[tuple[int, ...], ...]
    """(first label, second label) pair counts: rows first label, columns second, in `categories` order."""


def _index(categories: Sequence[int]) -> dict[int, int]:
    return {c: i for i, c in enumerate(categories)}


def _rated(units: Units) -> list[Sequence[int]]:
    return [u for u in units if len(u) >= 2]


def _pair_onehots(units: Units, categories: Sequence[int]) -> FloatArray:
    """U×k×k: a 1 at (first score, second score) of each unit."""
    idx = _index(categories)
    out = np.zeros((len(units), len(categories), len(categories)))
    first = [idx[u[0]] for u in units]
    second = [idx[u[1]] for u in units]
    out[np.arange(len(units)), first, second] = 1.0
    return out


def _unit_counts(units: Units, categories: Sequence[int]) -> tuple[FloatArray, FloatArray]:
    """(U×k: how often each unit received each category, U: the unit's number of scores)."""
    idx = _index(categories)
    sizes = np.array([len(u) for u in units], dtype=float)
    rows = np.repeat(np.arange(len(units)), sizes.astype(int))
    cols = np.array([idx[s] for u in units for s in u], dtype=np.int64)
    counts = np.zeros((len(units), len(categories)))
    np.add.at(counts, (rows, cols), 1.0)
    return counts, sizes


def _coincidences(counts: FloatArray, sizes: FloatArray) -> FloatArray:
    """U×k×k: Krippendorff's coincidences of each unit (ordered pairs of different raters, over m−1)."""
    pairs = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(counts.shape[1])
    return np.asarray(pairs / (sizes - 1)[:, None, None], dtype=float)


def _pair_counts(counts: FloatArray, sizes: FloatArray) -> FloatArray:
    """U×2: (agreeing pairs, all pairs) among each unit's scores."""
    return np.stack([(counts * (counts - 1)).sum(axis=1) / 2, sizes * (sizes - 1) / 2], axis=1)


def disagreement_weights(k: int, weighted: bool) -> FloatArray:
    """Kappa disagreement weights: 0 on the diagonal; 1 off it, or linear |i−j|/(k−1) for ordinal scales."""
    i, j = np.indices((k, k))
    if not weighted or k < 2:
        return np.asarray(i != j, dtype=float)
    return np.asarray(np.abs(i - j) / (k - 1), dtype=float)


def _kappa(confusion: FloatArray, weights: FloatArray) -> FloatArray:
    """Cohen's kappa of (…×k×k) confusion matrices: 1 − Σ w·observed / Σ w·expected; NaN where undefined."""
    n = confusion.sum(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = confusion / n
        expected = p.sum(axis=-1)[..., :, None] * p.sum(axis=-2)[..., None, :]
        d_obs = (weights * p).sum(axis=(-2, -1))
        d_exp = (weights * expected).sum(axis=(-2, -1))
        return np.where(d_exp > 0, 1.0 - d_obs / np.where(d_exp > 0, d_exp, 1.0), np.nan)


def _ordinal_delta2(marginals: FloatArray) -> FloatArray:
    """Krippendorff's ordinal metric from category marginals (…×k): (Σ_{g=c..k} n_g − (n_c + n_k)/2)²."""
    cum = np.cumsum(marginals, axis=-1)
    lo = np.minimum.outer(np.arange(marginals.shape[-1]), np.arange(marginals.shape[-1]))
    hi = np.maximum.outer(np.arange(marginals.shape[-1]), np.arange(marginals.shape[-1]))
    between = cum[..., hi] - cum[..., lo] + marginals[..., lo]
    half = (marginals[..., :, None] + marginals[..., None, :]) / 2
    return np.asarray((between - half) ** 2, dtype=float)


def _alpha(coincidence: FloatArray) -> FloatArray:
    """Ordinal alpha of (…×k×k) coincidence matrices: 1 − (n−1)·Σ o·δ² / Σ n_c·n_k·δ²; NaN where undefined."""
    marg = coincidence.sum(axis=-1)
    n = marg.sum(axis=-1)
    delta2 = _ordinal_delta2(marg)
    d_obs = (coincidence * delta2).sum(axis=(-2, -1))
    d_exp = (marg[..., :, None] * marg[..., None, :] * delta2).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d_exp > 0, 1.0 - (n - 1) * d_obs / np.where(d_exp > 0, d_exp, 1.0), np.nan)


def _percent(pairs: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(pairs[..., 0] / pairs[..., 1], dtype=float)


def _value(x: FloatArray | float) -> float | None:
    v = float(x)
    return None if np.isnan(v) else v


def percent_agreement(units: Units) -> float | None:
    """Share of agreeing pairs among all pairs of scores given to the same item."""
    rated = _rated(units)
    if not rated:
        return None
    categories = sorted({s for u in rated for s in u})
    return _value(_percent(_pair_counts(*_unit_counts(rated, categories)).sum(axis=0)))


def confusion_matrix(units: Units, categories: Sequence[int]) -> NDArray[np.int64]:
    """First label × second label counts, in `categories` order."""
    rated = _rated(units)
    k = len(categories)
    return (_pair_onehots(rated, categories).sum(axis=0) if rated else np.zeros((k, k))).astype(np.int64)


def cohen_kappa(units: Units, categories: Sequence[int], weighted: bool = False) -> float | None:
    """Cohen's kappa between first and second labels; `weighted` uses linear ordinal weights."""
    rated = _rated(units)
    if not rated:
        return None
    weights = disagreement_weights(len(categories), weighted)
    return _value(_kappa(_pair_onehots(rated, categories).sum(axis=0), weights))


def krippendorff_alpha(units: Units, categories: Sequence[int]) -> float | None:
    """Krippendorff's alpha with the ordinal metric; units may have any number (≥2) of scores."""
    rated = _rated(units)
    return _value(_alpha(_coincidences(*_unit_counts(rated, categories)).sum(axis=0))) if rated else None


def percentile_interval(samples: FloatArray, level: float) -> tuple[float | None, float | None]:
    """The central `level` percentile interval of bootstrap replicates, ignoring undefined (NaN) ones."""
    finite = samples[~np.isnan(samples)]
    if finite.size == 0:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def cluster_index(clusters: Sequence[Hashable]) -> tuple[NDArray[np.int64], int]:
    """(index of each unit's cluster in 0..C−1, C), clusters numbered in order of first appearance."""
    numbers: dict[Hashable, int] = {}
    index = np.fromiter((numbers.setdefault(c, len(numbers)) for c in clusters), dtype=np.int64, count=len(clusters))
    return index, len(numbers)


def cluster_sums(values: FloatArray, index: NDArray[np.int64], n_clusters: int) -> FloatArray:
    """Per-unit contributions (U×…) summed per cluster (C×…)."""
    out = np.zeros((n_clusters, *values.shape[1:]))
    np.add.at(out, index, values)
    return out


def bootstrap_weights(n_clusters: int, n_boot: int, rng: np.random.Generator, block: int = 256) -> Iterator[FloatArray]:
    """Resampling weights in blocks of (≤`block` × C): how often each of C clusters is drawn when C clusters
    are drawn with replacement, one row per bootstrap replicate (blocks bound the memory for large C)."""
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(b, n_clusters)) + n_clusters * np.arange(b)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n_clusters).reshape(b, n_clusters).astype(float)


def agreement(
    units: Units,
    categories: Sequence[int],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    clusters: Sequence[Hashable] | None = None,
) -> Agreement:
    """All agreement statistics for one group of units, each with a percentile bootstrap interval.

    `clusters` (one key per unit, e.g. a prompt id) makes the bootstrap resample clusters, so units that
    share one are drawn together; without it every unit is its own cluster. Units with fewer than two scores
    are ignored (with their cluster keys).
    """
    keep = [i for i, u in enumerate(units) if len(u) >= 2]
    rated = [units[i] for i in keep]
    k = len(categories)
    n = len(rated)
    if n == 0:
        none = Estimate(None, None, None)
        zeros = tuple(tuple(0 for _ in categories) for _ in categories)
        return Agreement(tuple(categories), 0, none, none, none, none, zeros)
    index, n_clusters = cluster_index([clusters[i] for i in keep] if clusters is not None else range(n))
    unit_counts = _unit_counts(rated, categories)
    pairs = cluster_sums(_pair_onehots(rated, categories), index, n_clusters).reshape(n_clusters, k * k)
    coinc = cluster_sums(_coincidences(*unit_counts), index, n_clusters).reshape(n_clusters, k * k)
    counts = cluster_sums(_pair_counts(*unit_counts), index, n_clusters)
    features = np.concatenate([pairs, coinc, counts], axis=1)  # one matrix product per bootstrap block
    plain, linear = disagreement_weights(k, False), disagreement_weights(k, True)

    def stats(weights: FloatArray) -> dict[str, FloatArray]:
        f = weights @ features
        conf = f[..., : k * k].reshape(*f.shape[:-1], k, k)
        return {
            "percent": _percent(f[..., 2 * k * k :]),
            "kappa": _kappa(conf, plain),
            "weighted_kappa": _kappa(conf, linear),
            "alpha": _alpha(f[..., k * k : 2 * k * k].reshape(*f.shape[:-1], k, k)),
        }

    point = stats(np.ones(n_clusters))
    blocks = [stats(w) for w in bootstrap_weights(n_clusters, n_boot, np.random.default_rng(seed))]
    est = {
        key: Estimate(_value(point[key]), *percentile_interval(np.concatenate([b[key] for b in blocks]), level))
        for key in point
    }
    return Agreement(
        tuple(categories),
        n,
        est["percent"],
        est["kappa"],
        est["weighted_kappa"],
        est["alpha"],
        tuple(tuple(int(c) for c in row) for row in pairs.sum(axis=0).reshape(k, k).astype(int)),
    )
