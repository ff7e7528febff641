"""Per-annotator figures of an annotation project: how much each person labelled and how often they agree
with the final label. The agreement statistics themselves (kappa, alpha, bootstrap) live in `flames.agreement`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AnnotatorLabel:
    """One label as the per-annotator table needs it."""

    annotator: str
    status: str
    score: int | None
    final_score: int | None


@dataclass(frozen=True)
class AnnotatorStats:
    annotator: str
    labeled: int
    flagged: int
    skipped: int
    compared: int
    """Scores given on items that have a final score."""
    agree_final: float | None
    """Share of those that equal the final score."""


def per_annotator(labels: Iterable[AnnotatorLabel]) -> list[AnnotatorStats]:
    """Counts and agreement with the final label for each annotator, by name."""
    by_name: dict[str, list[AnnotatorLabel]] = defaultdict(list)
    for lab in labels:
        by_name[lab.annotator].append(lab)
    out = []
    for name in sorted(by_name):
        labs = by_name[name]
        scored = [x for x in labs if x.score is not None and x.final_score is not None]
        agree = sum(x.score == x.final_score for x in scored)
        out.append(
            AnnotatorStats(
                name,
                sum(x.status == "labeled" for x in labs),
                sum(x.status == "flagged" for x in labs),
                sum(x.status == "skipped" for x in labs),
                len(scored),
                agree / len(scored) if scored else None,
            )
        )
    return out
