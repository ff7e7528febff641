"""A reply's final form: the reasoning trace split from the answer, and the outcome decided.

Every completion a backend returns passes through `settle` before it is stored (`flames.generate`), so the
rule is the same for API servers and local models (hf, gguf, vllm):

- the trace (a separate `reasoning_content`, or an inline `<think>…</think>`, also without its opening tag)
  is kept beside the answer in `Completion.reasoning`, never in the text a scorer sees;
- no usable text and a content-filter `finish_reason` → *blocked*;
- no usable text otherwise (a trace that never closed, a token budget spent on thinking, an empty reply)
  → *no answer*, with a hint;
- `keep_thinking=True` keeps the trace inline in the answer (for users who want the whole text judged).

Before that, `storable_outcome` makes what the backend delivered storable (`flames.storable`: NUL and lone
surrogates replaced by U+FFFD, counted in `meta.replaced_characters`): the collection engine and the LLM
judge pass every outcome of every backend through it as they receive it.
"""

from __future__ import annotations

import dataclasses
from typing import overload

from flames.models.base import Failure
from flames.models.moderation import BLOCKING_FINISH_REASONS
from flames.models.thinking import split_thinking
from flames.records import ANSWERED, BLOCKED, NO_ANSWER, Completion, OutcomeKind
from flames.storable import REPLACED_KEY, is_storable, storable, storable_text

NO_ANSWER_HINT = (
    "a larger --max-new-tokens (in a new --run: the budget is part of a run's identity) or thinking switched off"
    " leaves room for an answer"
)


@overload
def storable_outcome(outcome: Completion) -> Completion: ...
@overload
def storable_outcome(outcome: Failure) -> Failure: ...
@overload
def storable_outcome(outcome: Completion | Failure) -> Completion | Failure: ...
def storable_outcome(outcome: Completion | Failure) -> Completion | Failure:
    """The outcome with every NUL and lone surrogate in its texts (answer, reasoning, detail, finish reason,
    meta; a failure's error) replaced by U+FFFD, and, for a completion, `meta.replaced_characters` =
    {field: count} when any was. Cheap when there is nothing to replace (one scan of each text); the same
    object is returned then."""
    if isinstance(outcome, Failure):
        error, n = storable_text(outcome.error)
        return dataclasses.replace(outcome, error=error) if n else outcome
    fields = {"text": outcome.text, "reasoning": outcome.reasoning, "detail": outcome.detail,
              "finish_reason": outcome.finish_reason, "meta": outcome.meta}  # fmt: skip
    if is_storable(list(fields.values())):
        return outcome
    cleaned = {name: storable(value) for name, value in fields.items()}
    replaced = {name: n for name, (_, n) in cleaned.items() if n}
    if not replaced:
        return outcome
    meta = {**cleaned["meta"][0], REPLACED_KEY: replaced}
    values = {name: value for name, (value, _) in cleaned.items() if name != "meta"}
    return dataclasses.replace(outcome, **values, meta=meta)


def _join(*traces: str | None) -> str | None:
    present = [t for t in traces if t]
    return "\n\n".join(present) if present else None


def _no_text_detail(finish: str | None, closed: bool, thought: bool) -> tuple[OutcomeKind, str]:
    """(outcome, why) for a reply without usable text."""
    if finish in BLOCKING_FINISH_REASONS:
        return BLOCKED, f"withheld by the provider's content filter (finish_reason {finish!r}, no text)"
    if not closed:
        why = f"the reasoning trace never closed (finish_reason {finish!r}), no final answer"
        return NO_ANSWER, f"{why}; {NO_ANSWER_HINT}"
    if finish == "length":
        spent = "while thinking" if thought else "before any answer text"
        return NO_ANSWER, f"the token budget ran out {spent} (finish_reason 'length'); {NO_ANSWER_HINT}"
    return NO_ANSWER, "the model returned an empty answer" + (" after its reasoning" if thought else "")


def settle(completion: Completion, keep_thinking: bool = False) -> Completion:
    """The completion as it is stored: answer text without the trace, trace in `reasoning`, outcome set.

    A completion that is already final and not answered (a moderation refusal) is returned unchanged.
    With `keep_thinking`, an answered completion keeps its trace inline (a separate `reasoning_content`
    is put in front of the answer as `<think>…</think>`); the outcome is decided the same way either way.
    """
    if completion.outcome != ANSWERED:
        return completion
    split = split_thinking(completion.text)
    trace = _join(completion.reasoning, split.trace)
    if not split.answer or split.answer.isspace():
        outcome, detail = _no_text_detail(completion.finish_reason, split.closed, trace is not None)
        return dataclasses.replace(completion, text="", reasoning=trace, outcome=outcome, detail=detail)
    if keep_thinking:
        if completion.reasoning is None:
            return completion
        inline = f"<think>\n{completion.reasoning}\n</think>\n\n{completion.text}"
        return dataclasses.replace(completion, text=inline, reasoning=None)
    if split.trace is None:
        return completion
    return dataclasses.replace(completion, text=split.answer, reasoning=trace)
