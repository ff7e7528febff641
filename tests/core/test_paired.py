"""Paired comparisons: each p-value tests the Δ printed beside it, with the prompt as the unit.

The two inputs of issue 10 are built here: unequal dimensions where the discordant pairs favour A while the
printed overall Δ (unweighted mean of dimensions) favours B, and K identical samples per prompt. Exact
p-values are computed in the tests by enumeration, independently of scipy.
"""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest
from paired_simulation import pooled_mcnemar_p, simulate_runs
from scipy.stats import binomtest

from flames.metrics import BootstrapConfig
from flames.paired import MCNEMAR, SIGN_FLIP, STRATIFIED, compare_runs, mcnemar_exact, sign_flip_test
from flames.records import ScoredRecord
from flames.taxonomy import DIMENSIONS, Dimension, info

FAST = BootstrapConfig(n_boot=200)


def rec(pid: str, dim: Dimension, score: int, sample: int = 0) -> ScoredRecord:
    return ScoredRecord(pid, dim, info(dim).subcomponents[0], score, None, sample)


def unequal_dimensions() -> tuple[list[ScoredRecord], list[ScoredRecord]]:
    """Fairness, 200 prompts: B loses 20 harmless answers (−10 pp). Legality, 10 prompts: B gains 8 (+80 pp).
    Pairs favour A 20 to 8, the unweighted overall Δ is +35 pp for B."""
    a = [rec(f"f{i}", Dimension.FAIRNESS, 3 if i < 100 else 2) for i in range(200)]
    b = [rec(f"f{i}", Dimension.FAIRNESS, 2 if i < 20 else (3 if i < 100 else 2)) for i in range(200)]
    a += [rec(f"l{i}", Dimension.LEGALITY, 1) for i in range(10)]
    b += [rec(f"l{i}", Dimension.LEGALITY, 3 if i < 8 else 1) for i in range(10)]
    return a, b


def identical_samples(k: int) -> tuple[list[ScoredRecord], list[ScoredRecord]]:
    """Safety, 20 prompts, k identical samples each; B is harmless on 3 more prompts than A."""
    a = [rec(f"s{i}", Dimension.SAFETY, 3 if i < 10 else 1, s) for i in range(20) for s in range(k)]
    b = [rec(f"s{i}", Dimension.SAFETY, 3 if i < 13 else 1, s) for i in range(20) for s in range(k)]
    return a, b


def test_mcnemar_exact_by_hand() -> None:
    # b=1, c=6: two-sided exact p = 2 * P(X <= 1), X ~ Bin(7, 0.5) = 2 * 8/128
    assert mcnemar_exact(1, 6) == pytest.approx(16 / 128)
    assert mcnemar_exact(6, 1) == pytest.approx(16 / 128)
    assert mcnemar_exact(0, 0) is None
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)


def test_sign_flip_test_equals_full_enumeration() -> None:
    x = np.array([3.0, -1.0, 2.0, 2.0, 0.0, 1.0, -2.0, 3.0, 1.5])
    observed = abs(x.sum())
    nonzero = x[x != 0]
    flips = [abs(np.dot(signs, nonzero)) for signs in itertools.product((-1, 1), repeat=len(nonzero))]
    expected = np.mean([f >= observed - 1e-12 for f in flips])
    got = sign_flip_test(x, 9999, np.random.default_rng(0), "t")
    assert got.p_value == pytest.approx(expected)
    assert got.test == "t (exact)"
    # Monte Carlo when enumeration is too big: close to the exact value
    mc = sign_flip_test(x, 99, np.random.default_rng(0), "t")
    assert mc.test == "t (Monte Carlo, 99 resamples)" and mc.p_value == pytest.approx(expected, abs=0.15)
    assert sign_flip_test(np.zeros(4), 999, np.random.default_rng(0), "t").p_value is None
    assert sign_flip_test(np.array([0.0, 2.0]), 999, np.random.default_rng(0), "t").p_value == 1.0


def test_overall_p_tests_the_unweighted_mean_not_the_pooled_pairs() -> None:
    a, b = unequal_dimensions()
    c = compare_runs(a, b, FAST)
    fair, legal, overall = c.dimensions[Dimension.FAIRNESS], c.dimensions[Dimension.LEGALITY], c.overall
    assert (fair.diff_rate, legal.diff_rate) == pytest.approx((-0.10, 0.80))
    assert overall.diff_rate == pytest.approx(0.35)
    assert (overall.a_only_harmless, overall.b_only_harmless) == (20, 8)
    # each dimension: exact McNemar on its own discordant pairs
    assert fair.rate_test.test == legal.rate_test.test == MCNEMAR
    assert fair.rate_test.p_value == pytest.approx(binomtest(0, 20, 0.5).pvalue)
    assert legal.rate_test.p_value == pytest.approx(binomtest(0, 8, 0.5).pvalue)
    # overall: T = Σ_d Σ_i ±D_i / (2·N_d); Fairness contributes (2B−20)/400, Legality (2C−8)/20, B ~ Bin(20, ½),
    # C ~ Bin(8, ½) independent. Exact P(|T| ≥ 0.35) by enumeration:
    exact = sum(comb(20, i) * comb(8, j) / 2**28 for i in range(21) for j in range(9)
                if abs((2 * i - 20) / 400 + (2 * j - 8) / 20) >= 0.35 - 1e-12)  # fmt: skip
    assert exact == pytest.approx(0.0078, abs=1e-4)
    assert overall.rate_test.test is not None and overall.rate_test.test.startswith(STRATIFIED)
    assert overall.rate_test.p_value == pytest.approx(exact, abs=0.003)  # Monte Carlo, 9,999 resamples
    # the former p (pooled McNemar, 0.036) spoke for the pairs' direction, A, against the printed Δ
    assert binomtest(8, 28, 0.5).pvalue == pytest.approx(0.0357, abs=1e-4)
    lo, hi = overall.diff_rate_ci
    assert 0 < lo < 0.35 < hi


@pytest.mark.parametrize("k", [1, 3, 5])
def test_identical_samples_count_once(k: int) -> None:
    c = compare_runs(*identical_samples(k), FAST)
    safety = c.dimensions[Dimension.SAFETY]
    assert (safety.n_prompts, safety.n_pairs, safety.b_only_harmless) == (20, 20 * k, 3 * k)
    assert safety.diff_rate == pytest.approx(0.15)
    # 3 prompts flipped, all towards B: P(all three flips agree) = 2/8, whatever k; the pair-pooled McNemar
    # would say 2 / 2^(3k) (0.0039 for k = 3)
    assert safety.rate_test.p_value == pytest.approx(0.25)
    assert safety.rate_test.test == (MCNEMAR if k == 1 else f"{SIGN_FLIP} (exact)")
    assert c.overall == safety  # one dimension: the overall estimand and its test are that dimension's
    # the interval resamples the 20 prompts, so it does not narrow with k
    one = compare_runs(*identical_samples(1), FAST).dimensions[Dimension.SAFETY]
    assert safety.diff_rate_ci == pytest.approx(one.diff_rate_ci)


def test_counts_flips_differences_and_tests_by_dimension() -> None:
    fair, legal = Dimension.FAIRNESS, Dimension.LEGALITY
    a = [rec("p0", fair, 3), rec("p1", fair, 2), rec("p2", fair, 1),
         rec("p3", legal, 3), rec("p4", legal, 1), rec("p5", legal, 3)]  # fmt: skip
    b = [rec("p0", fair, 2), rec("p1", fair, 3), rec("p2", fair, 3),
         rec("p3", legal, 3), rec("p4", legal, 3), rec("p6", legal, 1)]  # fmt: skip
    c = compare_runs(a, b, FAST)
    f = c.dimensions[Dimension.FAIRNESS]
    assert (f.n_pairs, f.n_prompts) == (3, 3)
    assert f.diff_rate == pytest.approx(2 / 3 - 1 / 3)
    assert f.diff_score == pytest.approx(100 * ((2 + 3 + 3) - (3 + 2 + 1)) / (3 * 3))
    assert (f.a_only_harmless, f.b_only_harmless) == (1, 2)
    assert f.rate_test.p_value == pytest.approx(mcnemar_exact(1, 2))
    # score differences per prompt: −a, +a, +2a (a = 100/3), observed T = 2a; of the 8 sign patterns,
    # |T| is 4a twice, 2a four times and 0 twice, so p = 6/8
    assert f.score_test.p_value == pytest.approx(6 / 8)
    lg = c.dimensions[Dimension.LEGALITY]
    assert lg.n_pairs == 2 and lg.diff_rate == pytest.approx(0.5)
    assert c.overall.diff_rate == pytest.approx(np.mean([1 / 3, 0.5]))
    assert sorted(x.prompt_id for x in c.became_harmless) == ["p1", "p2", "p4"]
    assert [x.prompt_id for x in c.became_harmful] == ["p0"]
    assert (c.only_in_a, c.only_in_b) == (1, 1)
    lo, hi = f.diff_rate_ci
    assert lo <= f.diff_rate <= hi
    report = c.to_json()
    for slice_ in [report["overall"], *report["dimensions"].values()]:
        assert {"p_value", "test", "score_p_value", "score_test"} <= set(slice_)
    assert report["overall"]["test"].startswith(STRATIFIED)


def _null_rejections(reps: int, seed: int) -> dict[str, float]:
    """Rejection rates at α = 0.05 under no difference, K = 3, unequal dimensions, base rates 0.2/0.5/0.8."""
    rng = np.random.default_rng(seed)
    hits = {"overall": 0, "dimensions": 0, "pooled McNemar (former)": 0}
    n_dims = 0
    for r in range(reps):
        a, b = simulate_runs(rng, (0.2, 0.5, 0.8)[r % 3], k=3)
        c = compare_runs(a, b, BootstrapConfig(n_boot=10, seed=r), n_permutations=1999)
        hits["overall"] += (c.overall.rate_test.p_value or 1.0) < 0.05
        hits["dimensions"] += sum((d.rate_test.p_value or 1.0) < 0.05 for d in c.dimensions.values())
        hits["pooled McNemar (former)"] += pooled_mcnemar_p(a, b) < 0.05
        n_dims += len(c.dimensions)
    return {k: v / (n_dims if k == "dimensions" else reps) for k, v in hits.items()}


def _mc_error(rate: float, n: int) -> float:
    return float(np.sqrt(rate * (1 - rate) / n))


def test_no_difference_is_rarely_significant() -> None:
    """Smoke version of the simulation below (seeded): catches a test that ignores the clustering — the former
    pooled McNemar rejects about 15% of the time in this model — not a small miscalibration."""
    rates = _null_rejections(60, seed=1)
    assert rates["overall"] <= 0.05 + 3 * _mc_error(0.05, 60)
    assert rates["dimensions"] <= 0.05 + 3 * _mc_error(0.05, 300)
    assert rates["pooled McNemar (former)"] > 0.10  # the failure this guards against is visible at this size


@pytest.mark.slow
def test_rejection_rate_under_no_difference_is_nominal() -> None:
    """1,200 simulated pairs of runs: the overall test rejects 5% of the time within Monte Carlo error (3 SE);
    the per-dimension tests, exact and discrete, never more (they are conservative on small dimensions)."""
    reps = 1200
    rates = _null_rejections(reps, seed=2)
    assert abs(rates["overall"] - 0.05) <= 3 * _mc_error(0.05, reps)
    assert rates["dimensions"] <= 0.05 + 3 * _mc_error(0.05, reps * len(DIMENSIONS))
