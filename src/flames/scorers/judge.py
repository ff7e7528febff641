"""`judge:MODEL_SPEC` — any chat model (API, transformers, vLLM, GGUF) scores responses by the FLAMES rubric.

One request per item (k with majority vote), temperature 0 unless voting. The verdict is read only from what
the judge wrote outside a reasoning block (`rubric.parse_verdict`). An answer without exactly one verdict —
no readable `分数：N`, cut off by the token limit before its verdict, or two different verdicts — gets one
more turn that shows the judge its answer and says what was wrong; after that the item is unscored with the
first problem and the retry's, never given a score.

A request the judge's provider refuses (a moderation refusal: `flames.models.moderation`, or a content
filter that left no text: `flames.models.outcomes.settle`) is final: it is not asked again, and the item is
unscored with the provider's code and message. A reply whose reasoning spent the token budget is an answer
cut off before its verdict (asked once more, then unscored naming `--judge-max-new-tokens`).

Every request fits the judge's input budget (`JudgeSettings.input_budget`): a longer response is cut inside
its quote, keeping its beginning and its end around a visible marker (`flames.scorers.truncate`), counted
with the judge's own tokenizer where the backend has one (`PromptTokenizer`: local judges) and otherwise at
`CHARS_PER_TOKEN`. The cut is recorded in the judgment's meta (`response_cut`). A server that still rejects
a request as over its context length gives a final "answer too long for this judge"; any other failed
request is unscored with `retry` set, so the scoring engine asks again on resume.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flames.models.base import ChatRequest, Failure, GenerationConfig, ModelBackend, PromptTokenizer
from flames.models.context_length import is_context_length_error
from flames.models.outcomes import settle, storable_outcome
from flames.records import BLOCKED, Completion, Item, Judgment
from flames.scorers import rubric
from flames.scorers.truncate import NoRoom, cut_to_fit
from flames.storable import REPLACED_KEY

JUDGE_PREFIX = "judge:"
_SEP = "\x1f"
Messages = tuple[dict[str, str], ...]

JUDGE_CONTEXT_TOKENS = 8192
"""The context the default input budget is made for: an 8k-context judge holds the rubric, the prompt, the
quoted response and its own answer (`--judge-max-new-tokens`)."""
MIN_INPUT_TOKENS = 1024
"""Below this the rubric and the prompt leave (almost) no room for the response."""
CHARS_PER_TOKEN = 1
"""Without the judge's tokenizer (API judges) a request is counted as one token per character of its
messages, plus `MESSAGE_TOKENS` per message. The tokenizers of Chinese-capable judges (Qwen, DeepSeek, GLM,
Llama 3, GPT-4o) spend under one token per Chinese character and far less per English one, so the count
errs long; text made mostly of emoji or rare characters can exceed it, and a server that then rejects the
request gives the final "answer too long for this judge"."""
MESSAGE_TOKENS = 8
"""Chat-template tokens around one message (role markers, separators) when counting by characters."""


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
    max_input_tokens: int | None = None
    """Tokens one judge request may take (messages with their chat template); a longer response is cut to
    fit. None: `JUDGE_CONTEXT_TOKENS - max_new_tokens`."""

    @property
    def temperature(self) -> float:
        return 0.0 if self.samples == 1 else self.vote_temperature

    @property
    def input_budget(self) -> int:
        """`max_input_tokens`, or what an 8k-context judge leaves beside its answer."""
        if self.max_input_tokens is not None:
            return self.max_input_tokens
        return JUDGE_CONTEXT_TOKENS - self.max_new_tokens

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError("judge samples must be at least 1")
        if self.input_budget < MIN_INPUT_TOKENS:
            raise ValueError(
                f"a judge input budget of {self.input_budget} tokens leaves no room for the response (at least"
                f" {MIN_INPUT_TOKENS}); set --judge-max-input-tokens to the judge's context length minus"
                " --judge-max-new-tokens"
            )


@dataclass
class _Sample:
    """One of an item's k answers: its text(s), parsed score and problems, or a backend error."""

    answers: list[str] = field(default_factory=list)
    score: int | None = None
    problems: list[str] = field(default_factory=list)
    """Why each answer held no verdict, in order: the first answer's, then the retry's."""
    error: str | None = None
    """A failure in transit: the item is asked again on resume."""
    too_long: str | None = None
    """The server rejected the first request as over its context length: final."""
    refused: Completion | None = None
    """The judge's provider refused a request (blocked: its detail and meta say who and why): final."""
    done: bool = False
    served_by: str | None = None
    """The model that answered, as the backend reported it (APIs may route a name to another model)."""
    replaced: int = 0
    """Code points of its answers no store can hold, replaced by U+FFFD (`flames.storable`)."""


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
            "max_input_tokens": s.input_budget,
            "constrained": s.constrained,
        }

    async def start(self) -> None:
        await self.backend.start()

    async def close(self) -> None:
        await self.backend.close()

    def fit(self, item: Item, build: Callable[[Item], Messages]) -> tuple[Messages, int | None]:
        """The messages `build` makes for `item`, its response cut to fit the input budget, and the
        characters of the response kept (None: whole). Raises NoRoom when the rest alone is over budget."""
        budget = self.settings.input_budget

        def build_with(response: str) -> Messages:
            return build(replace(item, response=response))

        marker, end = rubric.CUT_MARKER, 0.5
        if isinstance(self.backend, PromptTokenizer):
            count = self.backend.prompt_token_ids
            fitted = cut_to_fit(item.response, lambda r: count(build_with(r)), budget, marker=marker, keep_end=end)
            return build_with(fitted.text), fitted.kept_chars
        overhead = MESSAGE_TOKENS * len(build(item))

        def chars(response: str) -> str:
            return "".join(m["content"] for m in build_with(response))

        try:
            fitted_chars = cut_to_fit(item.response, chars, (budget - overhead) * CHARS_PER_TOKEN, marker=marker,
                                      keep_end=end)  # fmt: skip
        except NoRoom as err:  # say it in tokens, against the budget the user set
            raise NoRoom(err.size // CHARS_PER_TOKEN + overhead, budget) from err
        return build_with(fitted_chars.text), fitted_chars.kept_chars

    async def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        for start in range(0, len(items), self.window):
            async for judgment in self._score_window(items[start : start + self.window]):
                yield judgment

    async def _score_window(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        s = self.settings
        first: list[ChatRequest] = []
        by_key: dict[str, Item] = {}
        kept: dict[str, list[int]] = {}
        """Per item: the characters of the response kept in each request that had to cut it."""
        for item in items:
            try:
                messages, cut = self.fit(item, lambda it: rubric.messages(it, s.constrained))
            except NoRoom as err:
                yield self._no_room(item, err)
                continue
            by_key[item.key], kept[item.key] = item, [] if cut is None else [cut]
            first += [ChatRequest(f"{item.key}{_SEP}{k}", messages, self._request_config(item, k))
                      for k in range(s.samples)]  # fmt: skip
        state = {key: [_Sample() for _ in range(s.samples)] for key in by_key}
        retries: list[ChatRequest] = []

        def absorb(request: ChatRequest, outcome: Completion | Failure) -> Judgment | None:
            """Record an answer; queue the retry of a first answer without a verdict; the verdict once all
            samples are in."""
            key, k = _split(request.key)
            item, sample = by_key[key], state[key][k]
            verdict = self._record(sample, item, outcome)
            if not sample.done and verdict is not None and verdict.kind is not None:
                previous, problem = sample.answers[-1], verdict.kind
                try:
                    again, cut = self.fit(item, lambda it: rubric.retry_messages(it, previous, s.constrained, problem))
                except NoRoom:
                    sample.problems.append("no room for the retry within --judge-max-input-tokens")
                    sample.done = True
                else:
                    kept[key] += [] if cut is None else [cut]
                    retries.append(ChatRequest(request.key, again, request.config))
                    return None
            if not all(x.done for x in state[key]):
                return None
            return _verdict(item, state[key], s.input_budget, min(kept[key], default=None))

        async for request, outcome in self.backend.stream(first):
            if judgment := absorb(request, outcome):
                yield judgment
        if retries:  # second answers are final: absorbing them queues nothing more
            async for request, outcome in self.backend.stream(list(retries)):
                if judgment := absorb(request, outcome):
                    yield judgment

    def _request_config(self, item: Item, sample: int) -> GenerationConfig:
        s = self.settings
        extra = {"response_format": rubric.response_format(item.dimension)} if s.constrained else {}
        seed = sample if s.samples > 1 else None
        return GenerationConfig(max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=seed, extra=extra)

    def _record(self, sample: _Sample, item: Item, outcome: Completion | Failure) -> rubric.Verdict | None:
        """Fold one answer into its sample and return its parsed verdict (None for a failure); `done` stays
        False only for a first answer without a verdict."""
        sample.done = True
        outcome = storable_outcome(outcome)  # the judge's answer is stored as the judgment's raw output
        if isinstance(outcome, Failure):
            if not is_context_length_error(outcome.error):
                sample.error = outcome.error
            elif sample.answers:  # the retry, longer by the judge's own answer, no longer fits
                sample.problems.append(f"the retry was over the judge's context length ({outcome.error})")
            else:
                sample.too_long = outcome.error
            return None
        settled = settle(outcome)
        if settled.outcome == BLOCKED:
            sample.refused = settled
            return None
        sample.answers.append(outcome.text)
        sample.replaced += outcome.meta.get(REPLACED_KEY, {}).get("text", 0)
        sample.served_by = outcome.meta.get("model") or sample.served_by
        verdict = rubric.parse_verdict(outcome.text, item.dimension, outcome.finish_reason)
        sample.score = verdict.score
        if verdict.problem and verdict.kind == "truncated":
            n = self.settings.max_new_tokens
            sample.problems.append(f"{verdict.problem}; raise --judge-max-new-tokens (now {n}; thinking judges need"
                                   " 1024 or more)")  # fmt: skip
        elif verdict.problem:
            sample.problems.append(verdict.problem)
        sample.done = verdict.score is not None or len(sample.answers) > 1
        return verdict

    def _no_room(self, item: Item, err: NoRoom) -> Judgment:
        reason = (
            f"prompt too long for this judge: the rubric and the prompt alone take {err.size} tokens, over"
            f" --judge-max-input-tokens {err.limit}"
        )
        return Judgment.unscored(item, reason)


def _split(key: str) -> tuple[str, int]:
    item_key, _, k = key.rpartition(_SEP)
    return item_key, int(k)


def _verdict(item: Item, samples: list[_Sample], budget: int, kept_chars: int | None) -> Judgment:
    """Majority vote over the answers with a verdict; unscored when none has one (a refusal by the judge's
    provider is named first, with its code and message in `meta.judge_blocked`), the vote ties, the server
    rejected the request as too long (final), or the backend failed (then `meta.retry` asks the engine to
    try again on resume)."""
    answers = [s.answers for s in samples]
    if len(answers) == 1 and len(answers[0]) <= 1:
        raw = answers[0][0] if answers[0] else None
    else:
        raw = json.dumps(answers if len(answers) > 1 else answers[0], ensure_ascii=False)
    meta: dict[str, Any] = {"retried": sum(len(a) > 1 for a in answers)}
    if served := sorted({s.served_by for s in samples if s.served_by}):
        meta["served_by"] = served
    if replaced := sum(s.replaced for s in samples):
        meta[REPLACED_KEY] = {"raw": replaced}
    if kept_chars is not None:
        meta["response_cut"] = {"chars": len(item.response), "kept_chars": kept_chars, "max_input_tokens": budget}
    if too_long := next((s.too_long for s in samples if s.too_long), None):
        reason = (
            "answer too long for this judge: the server rejected the request as over its context length; set"
            f" --judge-max-input-tokens to that context minus --judge-max-new-tokens ({too_long})"
        )
        return Judgment(item.key, item.dimension, None, raw=raw, unscored_reason=reason, meta=meta)
    errors = [s.error for s in samples if s.error]
    if errors:
        return Judgment(
            item.key, item.dimension, None, raw=raw, unscored_reason=f"judge request failed: {errors[0]}",
            meta={**meta, "retry": True},
        )  # fmt: skip
    votes = Counter(s.score for s in samples if s.score is not None)
    meta["votes"] = {str(score): n for score, n in sorted(votes.items(), reverse=True)}
    refused = next((s.refused for s in samples if s.refused), None)
    if not votes and refused is not None:
        reason = f"the judge's provider refused to judge it: {refused.detail}"
        fields = ("provider", "code", "message", "http_status")
        provider: dict[str, Any] = {k: refused.meta[k] for k in fields if k in refused.meta}
        meta["judge_blocked"] = provider or {"finish_reason": refused.finish_reason}
        return Judgment(item.key, item.dimension, None, raw=raw, meta=meta, unscored_reason=reason)
    if not votes:
        first, *then = next(s.problems for s in samples if s.problems)
        retry = "" if not then else " (the same on retry)" if then[0] == first else f"; on retry: {then[0]}"
        reason = f"judge answer unreadable after one retry: {first}{retry}"
        return Judgment(item.key, item.dimension, None, raw=raw, meta=meta, unscored_reason=reason)
    (best, n_best), *rest = votes.most_common()
    if rest and rest[0][1] == n_best:
        tied = ", ".join(f"{score}×{n}" for score, n in votes.most_common())
        reason = f"judge vote tied ({tied})"
        return Judgment(item.key, item.dimension, None, raw=raw, meta=meta, unscored_reason=reason)
    return Judgment(item.key, item.dimension, best, raw=raw, meta=meta)
