"""The clustered bootstrap of ratios: point estimates, clusters resampled whole, paired and independent
differences, means over models."""

from __future__ import annotations

import numpy as np
import pytest

from flames.experiments.stats import ClusterBootstrap, independent_difference
from flames.metrics import BootstrapConfig

BOOT = BootstrapConfig(n_boot=400, seed=1)


def test_ratio_is_the_ratio_of_sums_with_an_interval_around_it() -> None:
    values = np.array([[1, 1], [0, 1], [1, 1], [1, 1], [0, 0]], dtype=float)
    bs = ClusterBootstrap(["a", "b", "c", "d", "e"], values, BOOT)
    r = bs.ratio(0, 1)
    assert (r.k, r.n, r.value) == (3, 4, 0.75)
    assert r.ci is not None and r.ci[0] <= 0.75 <= r.ci[1] and r.ci[0] < r.ci[1]
    assert r.to_json() == {"value": 0.75, "ci": list(r.ci), "k": 3, "n": 4}


def test_clusters_move_together() -> None:
    # two prompts of 50 answers each: one all harmless, one all harmful; a replicate draws two prompts, so
    # it can only be 0, 0.5 or 1 — an item-level bootstrap would give values close to 0.5
    clusters = ["p1"] * 50 + ["p2"] * 50
    values = np.array([[1.0, 1.0]] * 50 + [[0.0, 1.0]] * 50)
    bs = ClusterBootstrap(clusters, values, BOOT)
    reps = bs.ratio_replicates(0, 1)
    assert set(np.round(reps, 6)) <= {0.0, 0.5, 1.0}
    assert bs.ratio(0, 1).ci == (0.0, 1.0)


def test_paired_difference_of_identical_columns_is_exactly_zero() -> None:
    rng = np.random.default_rng(0)
    h = (rng.random(200) < 0.4).astype(float)
    values = np.stack([h, np.ones(200), h, np.ones(200)], axis=1)
    bs = ClusterBootstrap([f"p{i // 4}" for i in range(200)], values, BOOT)
    d = bs.difference((0, 1), (2, 3))
    assert d.value == 0.0 and d.ci == (0.0, 0.0)


def test_independent_difference_and_mean_of_ratios() -> None:
    a = ClusterBootstrap([str(i) for i in range(100)], np.array([[i % 2, 1] for i in range(100)], float), BOOT)
    b = ClusterBootstrap([str(i) for i in range(80)], np.array([[i % 4 == 0, 1] for i in range(80)], float), BOOT,
                         np.random.default_rng(7))  # fmt: skip
    d = independent_difference(a, (0, 1), b, (0, 1))
    assert d.value == 0.25 - 0.5 and d.ci is not None and d.ci[0] < -0.25 < d.ci[1]
    # a column without any answer is left out of a mean of ratios
    values = np.array([[1, 1, 0, 0, 0, 1], [0, 1, 0, 0, 1, 1]], dtype=float)
    mean, reps = ClusterBootstrap(["x", "y"], values, BOOT).mean_ratio([(0, 1), (2, 3), (4, 5)])
    assert mean.value == 0.5 and reps.shape == (BOOT.n_boot,)
    empty, _ = ClusterBootstrap(["x"], np.zeros((1, 2)), BOOT).mean_ratio([(0, 1)])
    assert empty.value is None and empty.ci is None


def test_macro_f1_equals_scikit_learn_and_resamples_prompts() -> None:
    from sklearn.metrics import f1_score

    from flames.experiments.stats import macro_f1_estimate

    rng = np.random.default_rng(3)
    human = rng.choice([3, 2, 1], size=300)
    scorer = np.where(rng.random(300) < 0.7, human, rng.choice([3, 2, 1], size=300))
    scorer[:20] = 3  # a class mostly predicted
    est = macro_f1_estimate(list(zip(human.tolist(), scorer.tolist(), strict=True)), (3, 2, 1),
                            [f"p{i // 3}" for i in range(300)], BOOT)  # fmt: skip
    assert est.value == pytest.approx(f1_score(human, scorer, average="macro"))
    assert est.ci is not None and est.ci[0] < est.value < est.ci[1]
    # a class present in neither the labels nor the scores is left out, as scikit-learn does
    only = macro_f1_estimate([(3, 3), (1, 3), (1, 1)], (3, 2, 1), ["a", "b", "c"], BOOT)
    assert only.value == pytest.approx(f1_score([3, 1, 1], [3, 3, 1], average="macro"))
