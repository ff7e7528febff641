"""Agreement statistics checked against hand computations (and scikit-learn where it has the statistic)."""

from __future__ import annotations

import pytest

from flames.agreement import (
    agreement,
    cohen_kappa,
    confusion_matrix,
    krippendorff_alpha,
    percent_agreement,
)

SCALE = (3, 2, 1)
# Six items, two labels each. Pairs: (3,3) (3,2) (2,2) (1,2) (1,1) (3,1).
UNITS = [[3, 3], [3, 2], [2, 2], [1, 2], [1, 1], [3, 1]]


def test_percent_agreement_counts_agreeing_pairs() -> None:
    assert percent_agreement(UNITS) == pytest.approx(3 / 6)
    # a unit with three labels has 3 pairs; (2,2,1) agrees on 1 of them
    assert percent_agreement([[2, 2, 1]]) == pytest.approx(1 / 3)
    assert percent_agreement([[3]]) is None  # a single label says nothing about agreement


def test_confusion_matrix_first_vs_second_label() -> None:
    # rows: first label 3,2,1; columns: second label 3,2,1
    assert confusion_matrix(UNITS, SCALE).tolist() == [[1, 1, 1], [0, 1, 0], [0, 1, 1]]


def test_cohen_kappa_by_hand() -> None:
    # p_o = 3/6. Marginals: first (3,2,1) = (3,1,2)/6, second = (1,3,2)/6.
    # p_e = (3*1 + 1*3 + 2*2)/36 = 10/36. kappa = (1/2 - 10/36) / (1 - 10/36) = 8/26.
    assert cohen_kappa(UNITS, SCALE) == pytest.approx(8 / 26)


def test_weighted_kappa_by_hand() -> None:
    # linear disagreement weights: |i-j|/2. Observed: (3,2)->.5, (1,2)->.5, (3,1)->1 => (0.5+0.5+1)/6 = 2/6.
    # Expected: sum_ij w_ij r_i c_j with r=(3,1,2)/6, c=(1,3,2)/6:
    #   (3,2) .5*3*3 + (3,1) 1*3*2 + (2,3) .5*1*1 + (2,1) .5*1*2 + (1,3) 1*2*1 + (1,2) .5*2*3 = 4.5+6+.5+1+2+3 = 17
    #   => 17/36. kappa_w = 1 - (2/6)/(17/36) = 1 - 12/17 = 5/17.
    assert cohen_kappa(UNITS, SCALE, weighted=True) == pytest.approx(5 / 17)


def test_kappa_matches_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    units = [[3, 3], [3, 1], [1, 1], [3, 3], [1, 3], [3, 3], [2, 1], [2, 2], [1, 2], [3, 2], [2, 3], [1, 1]]
    a, b = [u[0] for u in units], [u[1] for u in units]
    assert cohen_kappa(units, SCALE) == pytest.approx(sklearn_metrics.cohen_kappa_score(a, b))
    assert cohen_kappa(units, SCALE, weighted=True) == pytest.approx(
        sklearn_metrics.cohen_kappa_score(a, b, weights="linear")
    )


def test_two_level_scale_weighted_equals_plain() -> None:
    units = [[3, 3], [3, 1], [1, 1], [3, 3], [1, 3]]
    assert cohen_kappa(units, (3, 1), weighted=True) == pytest.approx(cohen_kappa(units, (3, 1)))


def test_krippendorff_alpha_ordinal_by_hand() -> None:
    # Coincidences (each pair counted both ways): o33=2 o22=2 o11=2, o32=o23=1, o21=o12=1, o31=o13=1.
    # n3 = n2 = n1 = 4, n = 12. Ordinal delta^2: (3,2) = (4+4 - 8/2)^2 = 16, (2,1) = 16, (3,1) = (12 - 4)^2 = 64.
    # D_o = 2*(16+16+64) = 192; D_e = 2*(16*16 + 16*16 + 16*64) = 3072. alpha = 1 - 11*192/3072 = 0.3125.
    assert krippendorff_alpha(UNITS, SCALE) == pytest.approx(0.3125)


def test_krippendorff_alpha_with_three_raters_and_missing_values() -> None:
    # Units (3,3,2) and (2,1): m=3 pairs weigh 1/(m-1) = 1/2.
    # (3,3,2): o33 += 2*1/2 = 1, o32 = o23 += 2*1/2 = 1 each. (2,1): o21 = o12 += 1.
    # n3 = 1+1 = 2, n2 = 1+1 = 2, n1 = 1, n = 5.
    # delta^2: (3,2) = (2+2 - 2)^2 = 4, (2,1) = (2+1 - 1.5)^2 = 2.25, (3,1) = (5 - 1.5)^2 = 12.25.
    # D_o = 2*(1*4 + 1*2.25) = 12.5. D_e = 2*(2*2*4 + 2*1*2.25 + 2*1*12.25) = 2*(16+4.5+24.5) = 90.
    # alpha = 1 - 4*12.5/90 = 1 - 50/90 = 4/9.
    assert krippendorff_alpha([[3, 3, 2], [2, 1], [1]], SCALE) == pytest.approx(4 / 9)


def test_perfect_and_undefined_agreement() -> None:
    perfect = [[3, 3], [1, 1], [2, 2]]
    assert cohen_kappa(perfect, SCALE) == pytest.approx(1.0)
    assert krippendorff_alpha(perfect, SCALE) == pytest.approx(1.0)
    # everyone always says 3: chance agreement is total, kappa and alpha are undefined (not 0, not 1)
    assert cohen_kappa([[3, 3], [3, 3]], SCALE) is None
    assert krippendorff_alpha([[3, 3], [3, 3]], SCALE) is None
    assert percent_agreement([[3, 3], [3, 3]]) == 1.0


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible() -> None:
    units = UNITS * 10
    a = agreement(units, SCALE, n_boot=500, seed=1)
    assert a.n_units == 60
    for est in (a.percent, a.kappa, a.weighted_kappa, a.alpha):
        assert est.value is not None and est.low is not None and est.high is not None
        assert est.low <= est.value <= est.high
        assert est.high - est.low > 0.05  # 60 items cannot pin agreement down tightly
    assert a.kappa.value == pytest.approx(8 / 26)
    assert a == agreement(units, SCALE, n_boot=500, seed=1)
    assert a.confusion == ((10, 10, 10), (0, 10, 0), (0, 10, 10))
    # more items, narrower interval
    wide = agreement(UNITS * 3, SCALE, n_boot=500, seed=1)
    assert wide.kappa.high - wide.kappa.low > a.kappa.high - a.kappa.low  # type: ignore[operator]


def test_agreement_without_pairs_is_empty_not_zero() -> None:
    a = agreement([[3], []], SCALE)
    assert a.n_units == 0 and a.kappa.value is None and a.percent.value is None


def test_cluster_bootstrap_is_wider_when_clusters_move_together() -> None:
    # 20 prompts x 5 answers; within a prompt all answers agree or all disagree, so the effective sample
    # is 20 prompts, not 100 answers: the prompt-clustered interval must be wider than the item one.
    units = [[3, 3] if p % 2 else [3, 1] for p in range(20) for _ in range(5)]
    prompts = [p for p in range(20) for _ in range(5)]
    items = agreement(units, (3, 1), n_boot=2000, seed=3)
    clustered = agreement(units, (3, 1), n_boot=2000, seed=3, clusters=prompts)
    assert items.percent.value == clustered.percent.value == 0.5
    width = lambda e: e.high - e.low  # noqa: E731
    assert width(clustered.percent) > 1.6 * width(items.percent)  # sqrt(5) ~ 2.2 in theory
