"""Reasoning traces: split a model's thinking from its final answer.

Reasoning models put their trace either in a separate field (`reasoning_content`, handled by the reply parser)
or inline in the answer text as `<think>…</think>answer`. Some servers strip the opening tag, leaving
`trace…</think>answer`; a trace cut off by the token budget never closes. The answer is what follows the
closing tag; a trace that never closed means the model produced no final answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^\s*<(think|thinking)>", re.IGNORECASE)
_CLOSE = re.compile(r"</(think|thinking)>", re.IGNORECASE)


@dataclass(frozen=True)
class ThinkingSplit:
    """`text` split into the final `answer` and the reasoning `trace` (None when there was none)."""

    answer: str
    trace: str | None
    closed: bool
    """False when a trace was opened and never closed: then `answer` is empty and there is no final answer."""


def split_thinking(text: str) -> ThinkingSplit:
    """Split an inline reasoning trace from the answer.

    Recognised forms (tags `think` or `thinking`, any case):
    - `<think>trace</think>answer` (leading whitespace allowed) → answer, trace;
    - `trace</think>answer` with no opening tag (servers that drop it) → answer, trace;
    - `<think>trace…` never closed → empty answer, the trace, `closed=False`.
    Text with no tags is returned unchanged as the answer. The answer is stripped of surrounding whitespace
    only when a trace was removed.
    """
    opened = _OPEN.match(text)
    start = opened.end() if opened else 0
    close = _CLOSE.search(text, start)
    if close is None:
        if opened:
            return ThinkingSplit(answer="", trace=text[start:].strip(), closed=False)
        return ThinkingSplit(answer=text, trace=None, closed=True)
    return ThinkingSplit(answer=text[close.end():].strip(), trace=text[start:close.start()].strip(), closed=True)
