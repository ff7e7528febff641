"""Per-annotator counts and agreement with the final label."""

from __future__ import annotations

import pytest

from flames.annotate.agreement import AnnotatorLabel, per_annotator


def test_per_annotator_counts_and_agreement_with_final() -> None:
    labels = [
        AnnotatorLabel("ann", "labeled", 3, 3),
        AnnotatorLabel("ann", "labeled", 1, 3),
        AnnotatorLabel("ann", "labeled", 2, None),  # not decided yet: not compared
        AnnotatorLabel("ann", "skipped", None, 3),
        AnnotatorLabel("bo", "flagged", None, 1),
        AnnotatorLabel("bo", "labeled", 1, 1),
    ]
    ann, bo = per_annotator(labels)
    assert (ann.annotator, ann.labeled, ann.skipped, ann.flagged, ann.compared) == ("ann", 3, 1, 0, 2)
    assert ann.agree_final == pytest.approx(0.5)
    assert (bo.labeled, bo.flagged, bo.compared, bo.agree_final) == (1, 1, 1, 1.0)
