"""Typed records that flow through the pipeline: prompts → responses → judgments → metrics.

They are plain frozen dataclasses so that every stage (store, backends, scorers, reports) can be tested
without a database, and so that "unscored" is explicit: a `Judgment` carries either a score or a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from flames.taxonomy import Dimension, check_score

OutcomeKind = Literal["answered", "blocked", "no_answer"]
"""How a (prompt, sample) ended, once final:

- `answered`: the model gave an answer (the only outcome a scorer ever sees);
- `blocked`: the provider withheld it (a moderation refusal, or a content filter that left no usable text);
- `no_answer`: the model produced no final answer (its token budget ran out while thinking, a reasoning
  trace never closed, or the answer was empty).

A transient failure (429, 5xx, timeout) is not an outcome: it is retried, and stored apart until it ends.
"""
ANSWERED: OutcomeKind = "answered"
BLOCKED: OutcomeKind = "blocked"
NO_ANSWER: OutcomeKind = "no_answer"


@dataclass(frozen=True)
class Prompt:
    """One benchmark prompt. `id` is stable across runs and tools (given, or a content hash)."""

    id: str
    dimension: Dimension
    subcomponent: str
    prompt: str
    attack_method: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Item:
    """A response to score: what every scorer receives."""

    key: str
    """Caller's handle for the item (a response row id, or a line number); returned with its judgment."""
    dimension: Dimension
    prompt: str
    response: str


@dataclass(frozen=True)
class Judgment:
    """A scorer's verdict on one item: a score on the dimension's scale, or an explicit reason it has none."""

    key: str
    dimension: Dimension
    score: int | None
    probs: tuple[float, ...] | None = None
    """Class probabilities in official head order (best score first), where the scorer has them."""
    raw: str | None = None
    """The scorer's raw output (judge text, logits), kept for audit."""
    unscored_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if (self.score is None) == (self.unscored_reason is None):
            raise ValueError("a Judgment has either a score or an unscored_reason, not both or neither")
        if self.score is not None:
            check_score(self.dimension, self.score)

    @classmethod
    def unscored(cls, item: Item, reason: str, raw: str | None = None) -> Judgment:
        return cls(key=item.key, dimension=item.dimension, score=None, raw=raw, unscored_reason=reason)


@dataclass(frozen=True)
class ScoredRecord:
    """The minimum the metrics need about one response: where it sits in the taxonomy and its score."""

    prompt_id: str
    dimension: Dimension
    subcomponent: str
    score: int | None
    attack_method: str | None = None
    sample_index: int = 0
    outcome: OutcomeKind = ANSWERED
    """Blocked and no-answer records have no score and are counted apart (see `flames.metrics`)."""


@dataclass(frozen=True)
class Completion:
    """What a model backend returns for one request; stored as a response row.

    A reply that holds no answer is still a Completion when it is final (never worth asking again):
    `outcome` says `blocked` or `no_answer`, `text` is then empty and `detail` says why (the provider's
    code and message, or what to change). `reasoning` is the model's reasoning trace, kept apart from the
    answer and never scored.
    """

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    reasoning: str | None = None
    outcome: OutcomeKind = ANSWERED
    detail: str | None = None
