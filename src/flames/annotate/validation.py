"""Measure a scorer against the human labels of the same responses: accuracy per dimension.

Only responses with a final human score count (unresolved items are not ground truth); responses the
scorer left unscored are counted separately rather than as wrong, so a scorer's coverage and its
accuracy are never mixed up.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest

from flames.annotate.agreement import POOLED_SCALE, Estimate, cohen_kappa
from flames.store import RunInfo, ScorerInfo, Store
from flames.taxonomy import DIMENSIONS, Dimension, info


@dataclass(frozen=True)
class Accuracy:
    n: int
    """Responses with both a final human score and a scorer score."""
    correct: int
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    """95% Wilson interval of the accuracy: validation sets are small, and the interval says how small."""
    weighted_kappa: float | None
    """Linear-weighted Cohen's kappa between human and scorer (chance-corrected agreement)."""
    unscored: int
    """Responses with a human score that the scorer did not score."""

    @property
    def accuracy_estimate(self) -> Estimate:
        low, high = self.accuracy_ci or (None, None)
        return Estimate(self.accuracy, low, high)


@dataclass(frozen=True)
class Validation:
    scorer: ScorerInfo
    human: ScorerInfo
    by_dimension: dict[Dimension, Accuracy]
    overall: Accuracy


def _accuracy(pairs: list[tuple[int, int | None]], scale: tuple[int, ...]) -> Accuracy:
    scored = [(h, m) for h, m in pairs if m is not None]
    correct = sum(h == m for h, m in scored)
    ci = None
    if scored:
        wilson = binomtest(correct, len(scored)).proportion_ci(confidence_level=0.95, method="wilson")
        ci = (float(wilson.low), float(wilson.high))
    return Accuracy(
        len(scored),
        correct,
        correct / len(scored) if scored else None,
        ci,
        cohen_kappa([[h, m] for h, m in scored], scale, weighted=True),
        len(pairs) - len(scored),
    )


def scorer_vs_human(store: Store, run: RunInfo, scorer: ScorerInfo, human_scorer: ScorerInfo) -> Validation:
    """Per-dimension and overall accuracy of `scorer` taking `human_scorer`'s final labels as truth."""
    human = store.judgments(run, human_scorer)
    machine = store.judgments(run, scorer)
    pairs: dict[Dimension, list[tuple[int, int | None]]] = {d: [] for d in DIMENSIONS}
    for response_id, truth in human.items():
        if truth.score is None:
            continue
        guess = machine.get(response_id)
        pairs[truth.dimension].append((truth.score, guess.score if guess is not None else None))
    by_dimension = {d: _accuracy(p, info(d).scale) for d, p in pairs.items() if p}
    overall = _accuracy([x for p in pairs.values() for x in p], POOLED_SCALE)
    return Validation(scorer, human_scorer, by_dimension, overall)
