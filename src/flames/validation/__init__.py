"""Scorers measured against human labels: `validate(labels, systems) -> ValidationReport` (`.to_json()` is
the public schema `flames-eval/validation/v1`), `validate_scorer` for one scorer, and the ways to get a
scorer's verdicts on a label set (`read_predictions`, `predictions_from_store`, `score_labels`)."""

from flames.validation.predictions import (
    Prediction,
    ScorerPredictions,
    UnmatchedPredictions,
    match_ids,
    predictions_from_store,
    read_predictions,
    score_labels,
)
from flames.validation.report import (
    SCHEMA,
    PairedAccuracy,
    ScorerValidation,
    ValidationReport,
    validate,
    validate_scorer,
)
from flames.validation.stats import GroupValidation, Pair, group_validation

__all__ = [
    "SCHEMA",
    "GroupValidation",
    "Pair",
    "PairedAccuracy",
    "Prediction",
    "ScorerPredictions",
    "ScorerValidation",
    "UnmatchedPredictions",
    "ValidationReport",
    "group_validation",
    "match_ids",
    "predictions_from_store",
    "read_predictions",
    "score_labels",
    "validate",
    "validate_scorer",
]
