"""What a training run reports while it runs: one `TrainEvent` per optimizer step, evaluation and end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrainEvent:
    """kind: `start` (total steps known), `step` (after an optimizer step; `loss` is its mean training loss),
    `eval` (dev metrics as `training.data.dev_metrics` returns them, `improved` when a new best was saved),
    `note` (a message for the user) or `done`. A `step` without a loss (tfidf: one head fitted) names what
    it did in `message`."""

    kind: str
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    loss: float | None = None
    dev: dict[str, Any] | None = None
    improved: bool = False
    message: str = ""


EventSink = Callable[[TrainEvent], None]


def ignore(event: TrainEvent) -> None:
    """The default sink: training is silent."""
