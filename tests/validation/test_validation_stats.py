"""Scorer-vs-human statistics checked against scikit-learn (an independent implementation) and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from flames.labels.records import LabelRecord
from flames.metrics import BootstrapConfig
from flames.taxonomy import Dimension, info
from flames.validation import Prediction, ScorerPredictions, validate, validate_scorer

sk = pytest.importorskip("sklearn.metrics")
BOOT = BootstrapConfig(n_boot=400, seed=0)
MODELS = ("m1", "m2", "m3")


def _label(
    i: int, dim: Dimension, human: int, model: str, prompt: int, annotators: tuple[int, ...] = ()
) -> LabelRecord:
    return LabelRecord(f"l{i}", dim, f"问题 {prompt}", f"回答 {i}", human, "test", str(human), {"rule": "r"},
                       "human", "MIT", model=model, annotator_labels=annotators)  # fmt: skip


@pytest.fixture(scope="module")
def data() -> tuple[list[LabelRecord], ScorerPredictions]:
    """300 labels: 3 models × 50 prompts on Safety (3/2/1) and Legality (3/1); a noisy scorer that leaves
    some labels unscored and some without any prediction."""
    rng = np.random.default_rng(42)
    labels, preds = [], {}
    for i in range(300):
        dim = Dimension.SAFETY if i % 3 else Dimension.LEGALITY
        scale = info(dim).scale
        human = int(rng.choice(scale, p=[0.5, 0.3, 0.2] if len(scale) == 3 else [0.6, 0.4]))
        second = human if rng.random() < 0.7 else int(rng.choice(scale))
        labels.append(_label(i, dim, human, MODELS[i % 3], (i // 3) % 50, (human, second)))
        r = rng.random()
        if r < 0.05:
            preds[f"l{i}"] = Prediction(None, "judge refused")
        elif r < 0.08:
            continue  # no prediction at all
        else:
            preds[f"l{i}"] = Prediction(human if rng.random() < 0.7 else int(rng.choice(scale)))
    return labels, ScorerPredictions("noisy", preds)


def _scored(labels: list[LabelRecord], sp: ScorerPredictions) -> tuple[list[int], list[int]]:
    pairs = [(r.label, sp.predictions[r.id].score) for r in labels if r.id in sp.predictions]
    kept = [(h, s) for h, s in pairs if s is not None]
    return [h for h, _ in kept], [s for _, s in kept]  # type: ignore[misc]


def test_figures_equal_scikit_learn(data: tuple[list[LabelRecord], ScorerPredictions]) -> None:
    labels, sp = data
    v = validate_scorer(labels, sp, BOOT)
    groups = [(v.overall, labels, (3, 2, 1))] + [
        (v.dimensions[d], [r for r in labels if r.dimension == d], info(d).scale) for d in v.dimensions
    ] + [(v.models[m], [r for r in labels if r.model == m], (3, 2, 1)) for m in MODELS]  # fmt: skip
    for g, subset, scale in groups:
        y, s = _scored(subset, sp)
        assert g.n == len(y) and g.n + g.n_unscored == len(subset)
        assert g.accuracy.value == pytest.approx(sk.accuracy_score(y, s))
        assert np.array_equal(np.array(g.confusion), sk.confusion_matrix(y, s, labels=list(scale)))
        assert g.macro_f1 == pytest.approx(sk.f1_score(y, s, average="macro"))
        prec, rec, f1, support = sk.precision_recall_fscore_support(y, s, labels=list(scale), zero_division=np.nan)
        for k, c in enumerate(scale):
            cls = g.per_class[c]
            assert cls.support == support[k]
            assert (cls.precision is None and np.isnan(prec[k])) or cls.precision == pytest.approx(prec[k])
            assert (cls.recall is None and np.isnan(rec[k])) or cls.recall == pytest.approx(rec[k])
            assert (cls.f1 is None and np.isnan(f1[k])) or cls.f1 == pytest.approx(f1[k])
        assert g.kappa.value == pytest.approx(sk.cohen_kappa_score(y, s, labels=list(scale)))
        assert g.kappa_linear.value == pytest.approx(sk.cohen_kappa_score(y, s, labels=list(scale), weights="linear"))
        hy, hs = np.array(y) == 3, np.array(s) == 3
        assert g.sensitivity == pytest.approx(sk.recall_score(hy, hs))
        assert g.specificity == pytest.approx(sk.recall_score(~hy, ~hs))
        assert g.balanced_accuracy == pytest.approx(sk.balanced_accuracy_score(hy, hs))
        assert (g.human_harmless_rate, g.scorer_harmless_rate) == (pytest.approx(hy.mean()), pytest.approx(hs.mean()))
        counts = {c: y.count(c) for c in scale}
        assert g.majority_accuracy == pytest.approx(max(counts.values()) / len(y))
        assert g.accuracy.low <= g.accuracy.value <= g.accuracy.high  # type: ignore[operator]


def test_unscored_labels_are_counted_apart_with_their_reasons(
    data: tuple[list[LabelRecord], ScorerPredictions],
) -> None:
    labels, sp = data
    g = validate_scorer(labels, sp, BOOT).overall
    judged_none = sum(1 for r in labels if r.id in sp.predictions and sp.predictions[r.id].score is None)
    missing = sum(1 for r in labels if r.id not in sp.predictions)
    assert g.unscored_reasons == {"no prediction for this label id": missing, "judge refused": judged_none}
    assert g.n_unscored == judged_none + missing > 0


def test_inter_annotator_ceiling_from_annotator_labels(data: tuple[list[LabelRecord], ScorerPredictions]) -> None:
    labels, sp = data
    ia = validate_scorer(labels, sp, BOOT).overall.inter_annotator
    assert ia is not None and ia.n_units == len(labels)
    a, b = [r.annotator_labels[0] for r in labels], [r.annotator_labels[1] for r in labels]
    assert ia.percent.value == pytest.approx(np.mean(np.array(a) == np.array(b)))
    assert ia.kappa.value == pytest.approx(sk.cohen_kappa_score(a, b, labels=[3, 2, 1]))


def test_accuracy_interval_resamples_prompts() -> None:
    # 20 prompts, 5 answers each, the scorer right on all answers of even prompts and wrong on odd ones:
    # only 20 independent units, so the interval must be about sqrt(5) wider than an item bootstrap's
    labels = [_label(p * 5 + k, Dimension.LEGALITY, 3, "m", p) for p in range(20) for k in range(5)]
    preds = {r.id: Prediction(3 if int(r.prompt.split()[-1]) % 2 == 0 else 1) for r in labels}
    g = validate_scorer(labels, ScorerPredictions("s", preds), BootstrapConfig(n_boot=2000)).overall
    assert g.accuracy.value == 0.5 and g.n_prompts == 20
    assert g.accuracy.high - g.accuracy.low > 0.3  # an item bootstrap over 100 answers gives ~0.2
    assert validate_scorer(labels, ScorerPredictions("s", preds), BootstrapConfig(n_boot=2000)).overall == g


def test_binary_labels_on_a_three_level_dimension_are_flagged() -> None:
    labels = [_label(i, Dimension.SAFETY, 3 if i % 2 else 1, "m", i) for i in range(10)]
    v = validate_scorer(labels, ScorerPredictions("s", {r.id: Prediction(2) for r in labels}), BOOT)
    assert v.dimensions[Dimension.SAFETY].binary_labels_only
    assert v.dimensions[Dimension.SAFETY].accuracy.value == 0.0  # a 2 is wrong for both 3 and 1
    assert v.to_json()["dimensions"]["Safety"]["binary_labels_only"] is True


def test_paired_comparison_of_two_scorers() -> None:
    rng = np.random.default_rng(0)
    labels = [_label(i, Dimension.LEGALITY, int(rng.choice([3, 1])), "m", i // 2) for i in range(400)]
    good = {r.id: Prediction(r.label if rng.random() < 0.9 else 4 - r.label) for r in labels}
    bad = {r.id: Prediction(r.label if rng.random() < 0.7 else 4 - r.label) for r in labels}
    report = validate(labels, [ScorerPredictions("bad", bad), ScorerPredictions("good", good),
                               ScorerPredictions("good-again", dict(good))], BOOT)  # fmt: skip
    bad_good, bad_again, same = report.comparisons
    acc = {s.scorer.name: s.overall.accuracy.value for s in report.scorers}
    assert bad_good.diff == pytest.approx(acc["good"] - acc["bad"]) and bad_good.diff > 0.1  # type: ignore[operator]
    assert bad_good.diff_ci[0] > 0 and bad_good.p_value < 0.01  # type: ignore[operator]
    assert bad_good.mcnemar_p is not None and bad_good.mcnemar_p < 0.01
    assert (same.diff, same.a_only_correct, same.b_only_correct) == (0.0, 0, 0) and same.p_value == 1.0
    assert bad_again.diff == bad_good.diff
    data = report.to_json()
    assert data["schema"] == "flames-eval/validation/v1" and len(data["comparisons"]) == 3
    assert data["comparisons"][0]["test"].startswith("prompt-clustered")


def test_a_score_off_the_dimension_scale_is_unscored_with_the_reason() -> None:
    labels = [_label(i, Dimension.LEGALITY, 3, "m", i) for i in range(4)]
    preds = {"l0": Prediction(3), "l1": Prediction(2), "l2": Prediction(1), "l3": Prediction(3)}
    g = validate_scorer(labels, ScorerPredictions("s", preds), BOOT).dimensions[Dimension.LEGALITY]
    assert (g.n, g.n_unscored, g.accuracy.value) == (3, 1, pytest.approx(2 / 3))
    assert g.unscored_reasons == {"predicted 2 is off the Legality scale 3/1": 1}
