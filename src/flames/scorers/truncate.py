"""Fit an over-long response into a scorer's input window by cutting inside it, with a visible marker.

Shared by the official scorer (improved mode keeps the response's head) and the LLM judge (keeps its head
and its end): whatever the template around the response, it stays whole, and the reader sees where text
was left out. The caller says how a candidate response is encoded (token ids, or text when a bound of
characters per token stands in for a tokenizer) and how large the encoding may be.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Generic, TypeVar

E = TypeVar("E", bound=Sized)

MAX_CHARS_PER_TOKEN = 16
"""Upper end of the search: no tokenizer packs more characters than this into one token (real text has
1–4), so a hostile megabyte answer costs a few short encodings, not twenty long ones."""


@dataclass(frozen=True)
class Fitted(Generic[E]):
    """The response as it will be read, its encoding, and how much of the original survived."""

    text: str
    encoded: E
    kept_chars: int | None = None
    """Characters of the original response kept (head plus end) when it was cut; None when it fits whole."""


class NoRoom(ValueError):
    """Even the marker alone, with no character of the response, does not fit: the text around the response
    (template, rubric, prompt) already fills the window."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} with an empty response, over the limit of {limit}")
        self.size, self.limit = size, limit


def cut_to_fit(
    text: str, encode: Callable[[str], E], limit: int, *, marker: str, keep_end: float = 0.0
) -> Fitted[E]:
    """`text` whole if `len(encode(text)) <= limit`; else the longest cut that fits.

    A cut keeping `n` characters is `text[:n - t] + marker + text[-t:]` with `t = floor(n * keep_end)`
    (`keep_end=0`: head only; `0.5`: as much of the end as of the beginning). `marker` may hold
    `{omitted}`, replaced by the number of characters left out. `n` is found by binary search between 0
    and `min(len(text) - 1, limit * MAX_CHARS_PER_TOKEN)`, keeping the invariant that the lower bound fits,
    so the result always fits even where the encoding's size is not monotone in `n`.

    Raises NoRoom when not even a cut keeping 0 characters fits.
    """
    whole = encode(text)
    if len(whole) <= limit:
        return Fitted(text, whole)

    def cut(n: int) -> str:
        tail = int(n * keep_end)
        end = text[len(text) - tail :] if tail else ""
        return text[: n - tail] + marker.format(omitted=len(text) - n) + end

    best_text = cut(0)
    best = encode(best_text)
    if len(best) > limit:
        raise NoRoom(len(best), limit)
    low, high = 0, min(len(text) - 1, limit * MAX_CHARS_PER_TOKEN)
    while low < high:
        mid = (low + high + 1) // 2
        candidate_text = cut(mid)
        candidate = encode(candidate_text)
        if len(candidate) <= limit:
            low, best_text, best = mid, candidate_text, candidate
        else:
            high = mid - 1
    return Fitted(best_text, best, kept_chars=low)
