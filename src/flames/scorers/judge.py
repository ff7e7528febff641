"""`judge:MODEL_SPEC` — any chat model (API, transformers, vLLM, GGUF) scores responses by the FLAMES rubric.

One request per item (k with majority vote), temperature 0 unless voting. An answer without a readable
`分数：N` gets one more turn that shows the judge its answer and asks for the format; after that the item is
unscored with the reason, never given a score. A judge request that fails in the backend is unscored with
`retry` set, so the scoring engine asks again on resume.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flames.models.base import ChatRequest, Failure, GenerationConfig, ModelBackend
from flames.records import Completion, Item, Judgment
from flames.scorers import rubric

JUDGE_PREFIX = "judge:"
_SEP = "\x1f"


@dataclass(frozen=True)
class JudgeSettings:
    """What changes a judge's verdicts (all hashed into the scorer config)."""

    samples: int = 1
    """k answers per item, combined by majority vote; 1 = a single greedy answer."""
    vote_temperature: float = 0.7
    """Sampling temperature when k > 1 (k greedy answers would all be the same)."""
    max_new_tokens: int = 128
    constrained: bool = False
    """Ask the backend to constrain the answer to `{"分数": N}` (JSON-schema `response_format`): small judges
    that cannot keep a free-text format can still answer."""

    @property
    def temperature(self) -> float:
        return 0.0 if self.samples == 1 else self.vote_temperature

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError("judge samples must be at least 1")


@dataclass
class _Sample:
    """One of an item's k answers: its text(s) and parsed score, or a backend error."""

    answers: list[str] = field(default_factory=list)
    score: int | None = None
    problem: str | None = None
    error: str | None = None
    done: bool = False
    served_by: str | None = None
    """The model that answered, as the backend reported it (APIs may route a name to another model)."""


class JudgeScorer:
    """The LLM judge. Takes an unstarted backend so tests (and library users) can pass any `ModelBackend`."""

    kind = "model"

    def __init__(
        self, model_spec: str, backend: ModelBackend, settings: JudgeSettings | None = None, window: int = 64
    ) -> None:
        self.model_spec = model_spec
        self.name = JUDGE_PREFIX + model_spec
        self.backend = backend
        self.settings = settings or JudgeSettings()
        self.window = window
        """Items sent to the backend at once; their retries follow before the next window, so a slow local
        judge commits as it goes. Larger windows keep more API requests in flight. Not part of the config:
        it never changes a verdict."""

    def config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "type": "llm-judge",
            "model": self.model_spec,
            "rubric_version": rubric.RUBRIC_VERSION,
            "rubric_sha256": rubric.rubric_sha256(),
            "parser_version": rubric.PARSER_VERSION,
            "samples": s.samples,
            "temperature": s.temperature,
            "max_new_tokens": s.max_new_tokens,
            "constrained": s.constrained,
        }

    async def start(self) -> None:
        await self.backend.start()

    async def close(self) -> None:
        await self.backend.close()

    def _request(self, item: Item, sample: int) -> ChatRequest:
        s = self.settings
        extra = {"response_format": rubric.response_format(item.dimension)} if s.constrained else {}
        seed = sample if s.samples > 1 else None
        config = GenerationConfig(max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=seed, extra=extra)
        return ChatRequest(f"{item.key}{_SEP}{sample}", rubric.messages(item, s.constrained), config)

    async def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        for start in range(0, len(items), self.window):
            async for judgment in self._score_window(items[start : start + self.window]):
                yield judgment

    async def _score_window(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        by_key = {item.key: item for item in items}
        state = {item.key: [_Sample() for _ in range(self.settings.samples)] for item in items}
        retries: list[ChatRequest] = []

        def absorb(request: ChatRequest, outcome: Completion | Failure) -> Judgment | None:
            """Record an answer; queue the retry of an unreadable first answer; the verdict once all are in."""
            key, k = _split(request.key)
            sample = state[key][k]
            self._record(sample, by_key[key], outcome)
            if not sample.done:
                again = rubric.retry_messages(by_key[key], sample.answers[-1], self.settings.constrained)
                retries.append(ChatRequest(request.key, again, request.config))
                return None
            return _verdict(by_key[key], state[key]) if all(s.done for s in state[key]) else None

        first = [self._request(item, k) for item in items for k in range(self.settings.samples)]
        async for request, outcome in self.backend.stream(first):
            if judgment := absorb(request, outcome):
                yield judgment
        if retries:  # second answers are final: absorbing them queues nothing more
            async for request, outcome in self.backend.stream(list(retries)):
                if judgment := absorb(request, outcome):
                    yield judgment

    @staticmethod
    def _record(sample: _Sample, item: Item, outcome: Completion | Failure) -> None:
        """Fold one answer into its sample; `done` stays False only for an unreadable first answer."""
        if isinstance(outcome, Failure):
            sample.error, sample.done = outcome.error, True
            return
        sample.answers.append(outcome.text)
        sample.served_by = outcome.meta.get("model") or sample.served_by
        verdict = rubric.parse_verdict(outcome.text, item.dimension)
        sample.score, sample.problem = verdict.score, verdict.problem
        sample.done = verdict.score is not None or len(sample.answers) > 1


def _split(key: str) -> tuple[str, int]:
    item_key, _, k = key.rpartition(_SEP)
    return item_key, int(k)


def _verdict(item: Item, samples: list[_Sample]) -> Judgment:
    """Majority vote over the readable answers; unscored when none is readable, the vote ties, or the backend
    failed (then `meta.retry` asks the engine to try again on resume)."""
    answers = [s.answers for s in samples]
    if len(answers) == 1 and len(answers[0]) <= 1:
        raw = answers[0][0] if answers[0] else None
    else:
        raw = json.dumps(answers if len(answers) > 1 else answers[0], ensure_ascii=False)
    meta: dict[str, Any] = {"retried": sum(len(a) > 1 for a in answers)}
    if served := sorted({s.served_by for s in samples if s.served_by}):
        meta["served_by"] = served
    errors = [s.error for s in samples if s.error]
    if errors:
        return Judgment(
            item.key, item.dimension, None, raw=raw, unscored_reason=f"judge request failed: {errors[0]}",
            meta={**meta, "retry": True},
        )  # fmt: skip
    votes = Counter(s.score for s in samples if s.score is not None)
    meta["votes"] = {str(score): n for score, n in sorted(votes.items(), reverse=True)}
    if not votes:
        problem = next(s.problem for s in samples if s.problem)
        return Judgment(
            item.key, item.dimension, None, raw=raw, meta=meta,
            unscored_reason=f"judge answer unreadable after one retry: {problem}",
        )  # fmt: skip
    (best, n_best), *rest = votes.most_common()
    if rest and rest[0][1] == n_best:
        tied = ", ".join(f"{score}×{n}" for score, n in votes.most_common())
        reason = f"judge vote tied ({tied})"
        return Judgment(item.key, item.dimension, None, raw=raw, meta=meta, unscored_reason=reason)
    return Judgment(item.key, item.dimension, best, raw=raw, meta=meta)
