"""Paired comparison of two runs: B − A per dimension and overall, with p-values that test what is printed.

Pairs are the (prompt, sample) slots both runs scored. The prompt is the unit of resampling and of testing:
the K samples of one prompt share its difficulty, so they are not K independent observations.

Estimands (docs/reports.md, "Comparison"):

- per dimension d: Δ_d = the mean over its pairs of h_B − h_A (harmless rate, h = 1 if the score is 3) and
  of 100·(s_B − s_A)/3 (harmless score);
- overall: the unweighted mean of Δ_d over the dimensions with pairs — the aggregation FLAMES uses for its
  overall figures (docs/benchmark.md §3).

Tests, each of the estimand printed beside it (H0: within every prompt, which run produced which answers
is exchangeable):

- a dimension where every prompt has one pair, harmless rate: the exact McNemar test (McNemar 1947), i.e. a
  two-sided binomial test on the discordant pairs (`scipy.stats.binomtest`);
- a dimension where some prompt has several pairs, and every harmless-score test: the paired sign-flip
  permutation test (Fisher's randomisation test) on per-prompt sums of differences, so that the K pairs of a
  prompt swap A and B together (prompts as clusters; `scipy.stats.permutation_test`, exact when 2^n ≤ the
  number of resamples, else Monte Carlo with the (b+1)/(R+1) p-value of Phipson & Smyth 2010);
- overall: the same sign-flip test stratified by dimension, on the statistic Σ_d Σ_{i∈d} D_i / (|dims|·N_d)
  (D_i the sum of prompt i's differences, N_d the pairs of d) — exactly the printed overall Δ.

Intervals are percentile bootstraps that resample prompts within each dimension.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flames.metrics import BootstrapConfig, Interval
from flames.records import ScoredRecord
from flames.taxonomy import DIMENSIONS, HARMLESS, Dimension

SCHEMA = "flames-eval/compare/v3"
DEFAULT_PERMUTATIONS = 9999
MCNEMAR = "exact McNemar"
SIGN_FLIP = "paired sign-flip permutation, prompts as clusters"
STRATIFIED = "paired sign-flip permutation, prompts as clusters, stratified by dimension"

Array = NDArray[np.float64]


@dataclass(frozen=True)
class PairedTest:
    """A two-sided p-value and the name of the test that produced it (None when there is nothing to test)."""

    p_value: float | None
    test: str | None


NO_TEST = PairedTest(None, None)


@dataclass(frozen=True)
class PairedDiff:
    """B minus A on the pairs both runs scored (positive: B is more harmless)."""

    n_pairs: int
    n_prompts: int
    rate_a: float | None
    rate_b: float | None
    diff_rate: float | None
    diff_rate_ci: Interval | None
    rate_test: PairedTest
    diff_score: float | None
    diff_score_ci: Interval | None
    score_test: PairedTest
    a_only_harmless: int
    """Pairs harmless in A, not in B (McNemar's b)."""
    b_only_harmless: int
    """Pairs harmless in B, not in A (McNemar's c)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "n_pairs": self.n_pairs,
            "n_prompts": self.n_prompts,
            "harmless_rate_a": self.rate_a,
            "harmless_rate_b": self.rate_b,
            "diff_harmless_rate": self.diff_rate,
            "diff_harmless_rate_ci": list(self.diff_rate_ci) if self.diff_rate_ci else None,
            "p_value": self.rate_test.p_value,
            "test": self.rate_test.test,
            "diff_harmless_score": self.diff_score,
            "diff_harmless_score_ci": list(self.diff_score_ci) if self.diff_score_ci else None,
            "score_p_value": self.score_test.p_value,
            "score_test": self.score_test.test,
            "a_only_harmless": self.a_only_harmless,
            "b_only_harmless": self.b_only_harmless,
        }


EMPTY = PairedDiff(0, 0, None, None, None, None, NO_TEST, None, None, NO_TEST, 0, 0)


@dataclass(frozen=True)
class Flip:
    prompt_id: str
    sample_index: int
    dimension: Dimension
    subcomponent: str
    score_a: int
    score_b: int


@dataclass(frozen=True)
class Comparison:
    overall: PairedDiff
    dimensions: dict[Dimension, PairedDiff]
    became_harmless: list[Flip]
    became_harmful: list[Flip]
    """Harmless (3) in A but not in B: regressions of B."""
    only_in_a: int
    only_in_b: int
    bootstrap: BootstrapConfig
    n_permutations: int

    def to_json(self) -> dict[str, Any]:
        def flips(fs: list[Flip]) -> list[dict[str, Any]]:
            return [
                {"id": f.prompt_id, "sample_index": f.sample_index, "dimension": f.dimension.value,
                 "subcomponent": f.subcomponent, "score_a": f.score_a, "score_b": f.score_b}
                for f in fs
            ]  # fmt: skip

        return {
            "schema": SCHEMA,
            "direction": "B minus A",
            "overall": {**self.overall.to_json(), "aggregation": "unweighted mean of per-dimension differences"},
            "dimensions": {d.value: p.to_json() for d, p in self.dimensions.items()},
            "became_harmless": flips(self.became_harmless),
            "became_harmful": flips(self.became_harmful),
            "unpaired": {"only_in_a": self.only_in_a, "only_in_b": self.only_in_b},
            "bootstrap": {"n_boot": self.bootstrap.n_boot, "confidence": self.bootstrap.confidence,
                          "seed": self.bootstrap.seed, "resampling_unit": "prompt", "stratified_by": "dimension"},
            "permutation": {"n_resamples": self.n_permutations, "seed": self.bootstrap.seed, "unit": "prompt"},
        }  # fmt: skip


# -- the tests -----------------------------------------------------------------------------------------------


def mcnemar_exact(b: int, c: int) -> float | None:
    """Two-sided exact McNemar p-value from the discordant counts b, c (a binomial test of b against
    Bin(b + c, 1/2); McNemar 1947). None when there is no discordant pair."""
    if b + c == 0:
        return None
    from scipy.stats import binomtest

    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


def _sum_statistic(x: Array, axis: int) -> Array:
    return np.asarray(x.sum(axis=axis))


def sign_flip_test(contributions: Array, n_resamples: int, rng: np.random.Generator, name: str) -> PairedTest:
    """Two-sided paired sign-flip permutation test of Σ x_i, where x_i is one cluster's (weighted) difference.

    contributions: shape (clusters,); under H0 each x_i is as likely to be −x_i (A and B swap within the
    cluster). Exact when 2^(non-zero clusters) ≤ `n_resamples`, else Monte Carlo. Uses
    `scipy.stats.permutation_test(..., permutation_type="samples")`, which flips signs for one sample.
    """
    x = contributions[contributions != 0]
    if x.size == 0:
        return NO_TEST
    if x.size == 1:  # the two sign patterns give ±x: nothing is more extreme than what was seen
        return PairedTest(1.0, f"{name} (exact)")
    from scipy.stats import permutation_test

    exact = x.size < 63 and 2**x.size <= n_resamples
    result = permutation_test(
        (x,), _sum_statistic, permutation_type="samples", vectorized=True, n_resamples=n_resamples,
        alternative="two-sided", rng=rng,
    )  # fmt: skip
    how = "exact" if exact else f"Monte Carlo, {n_resamples} resamples"
    return PairedTest(min(1.0, float(result.pvalue)), f"{name} ({how})")


# -- per-prompt sums ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prompts:
    """One dimension's pairs summed per prompt (arrays aligned by prompt)."""

    pairs: Array
    harmless_a: Array
    harmless_b: Array
    score_diff: Array
    """Σ 100·(s_B − s_A)/3 over the prompt's pairs."""
    a_only: int
    b_only: int

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, int, int]]) -> _Prompts:
        """pairs: (prompt id, score A, score B)."""
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
        a_only = b_only = 0
        for pid, sa, sb in pairs:
            ha, hb = sa == HARMLESS, sb == HARMLESS
            acc = sums[pid]
            acc[0] += 1
            acc[1] += ha
            acc[2] += hb
            acc[3] += 100 * (sb - sa) / 3
            a_only += ha and not hb
            b_only += hb and not ha
        arr = np.array(list(sums.values()), dtype=np.float64).reshape(-1, 4)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], a_only, b_only)

    @property
    def rate_diff(self) -> Array:
        return self.harmless_b - self.harmless_a

    @property
    def n_pairs(self) -> int:
        return int(self.pairs.sum())

    @property
    def clustered(self) -> bool:
        return bool((self.pairs > 1).any())

    def replicates(self, rng: np.random.Generator, n_boot: int) -> tuple[Array, Array]:
        """Bootstrap replicates of (Δ rate, Δ score), resampling prompts with replacement."""
        idx = rng.integers(0, len(self.pairs), size=(n_boot, len(self.pairs)))
        n = self.pairs[idx].sum(axis=1)
        return self.rate_diff[idx].sum(axis=1) / n, self.score_diff[idx].sum(axis=1) / n


def _dimension_diff(
    s: _Prompts, rng: np.random.Generator, boot: BootstrapConfig, n_perm: int
) -> tuple[PairedDiff, tuple[Array, Array]]:
    n = s.n_pairs
    reps = s.replicates(rng, boot.n_boot)
    if s.clustered:
        rate_test = sign_flip_test(s.rate_diff, n_perm, rng, SIGN_FLIP)
    else:
        rate_test = PairedTest(p, MCNEMAR) if (p := mcnemar_exact(s.a_only, s.b_only)) is not None else NO_TEST
    diff = PairedDiff(
        n, len(s.pairs), float(s.harmless_a.sum() / n), float(s.harmless_b.sum() / n),
        float(s.rate_diff.sum() / n), boot.interval(reps[0]), rate_test,
        float(s.score_diff.sum() / n), boot.interval(reps[1]), sign_flip_test(s.score_diff, n_perm, rng, SIGN_FLIP),
        s.a_only, s.b_only,
    )  # fmt: skip
    return diff, reps


def _overall(
    sums: list[_Prompts], dims: list[PairedDiff], reps: list[tuple[Array, Array]], rng: np.random.Generator,
    boot: BootstrapConfig, n_perm: int,
) -> PairedDiff:  # fmt: skip
    """Unweighted mean over dimensions; one stratified test per metric (weights 1/(|dims|·N_d))."""
    if len(dims) == 1:
        return dims[0]  # the overall estimand is that dimension's, and so is its test
    weights = [np.full(len(s.pairs), 1.0 / (len(sums) * s.n_pairs)) for s in sums]
    rate_x = np.concatenate([w * s.rate_diff for w, s in zip(weights, sums, strict=True)])
    score_x = np.concatenate([w * s.score_diff for w, s in zip(weights, sums, strict=True)])

    def mean(values: Iterable[float | None]) -> float:
        return float(np.mean([v for v in values if v is not None]))

    return PairedDiff(
        sum(d.n_pairs for d in dims), sum(d.n_prompts for d in dims),
        mean(d.rate_a for d in dims), mean(d.rate_b for d in dims), mean(d.diff_rate for d in dims),
        boot.interval(np.mean([r[0] for r in reps], axis=0)), sign_flip_test(rate_x, n_perm, rng, STRATIFIED),
        mean(d.diff_score for d in dims), boot.interval(np.mean([r[1] for r in reps], axis=0)),
        sign_flip_test(score_x, n_perm, rng, STRATIFIED),
        sum(d.a_only_harmless for d in dims), sum(d.b_only_harmless for d in dims),
    )  # fmt: skip


def compare_runs(
    a: Sequence[ScoredRecord],
    b: Sequence[ScoredRecord],
    boot: BootstrapConfig | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> Comparison:
    """Paired comparison of two runs over the (prompt, sample) pairs both scored.

    a, b: scored records of the two runs (unscored ones are left out). Returns B − A per dimension and
    overall, with bootstrap intervals (`boot`), the tests described in the module docstring (Monte Carlo
    ones with `n_permutations` resamples, seeded by `boot.seed`), and the items whose harmlessness flipped.
    """
    boot = boot or BootstrapConfig()
    rng = np.random.default_rng(boot.seed)
    sa = {(r.prompt_id, r.sample_index): r for r in a if r.score is not None}
    sb = {(r.prompt_id, r.sample_index): r for r in b if r.score is not None}
    shared = [k for k in sa if k in sb]
    by_dim: dict[Dimension, list[tuple[str, int, int]]] = defaultdict(list)
    for k in shared:
        by_dim[sa[k].dimension].append((k[0], sa[k].score or 0, sb[k].score or 0))
    dims: dict[Dimension, PairedDiff] = {}
    sums: list[_Prompts] = []
    reps: list[tuple[Array, Array]] = []
    for d in DIMENSIONS:
        if by_dim.get(d):
            sums.append(_Prompts.of(by_dim[d]))
            dims[d], r = _dimension_diff(sums[-1], rng, boot, n_permutations)
            reps.append(r)
    overall = _overall(sums, list(dims.values()), reps, rng, boot, n_permutations) if dims else EMPTY
    flips = [Flip(k[0], k[1], sa[k].dimension, sa[k].subcomponent, sa[k].score or 0, sb[k].score or 0)
             for k in shared if (sa[k].score == HARMLESS) != (sb[k].score == HARMLESS)]  # fmt: skip
    return Comparison(
        overall,
        dims,
        [f for f in flips if f.score_b == HARMLESS],
        [f for f in flips if f.score_a == HARMLESS],
        len(set(sa) - set(sb)),
        len(set(sb) - set(sa)),
        boot,
        n_permutations,
    )
