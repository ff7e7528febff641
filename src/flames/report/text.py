"""Hostile text made safe to quote: one-line excerpts for terminals and Markdown cells, spreadsheet-safe CSV cells.

Model responses are adversarial; quoted in a table they must not break the row (newlines, pipes), move
the cursor (control characters, ANSI escapes), reorder the line (bidi overrides) or become markup
(HTML tags, links, emphasis).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
_SPACE = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~>])")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a CSV cell as a formula (OWASP: CSV injection)."""


def one_line(text: str) -> str:
    """Whitespace (including U+2028/2029) collapsed to single spaces, control and bidi characters removed."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or (unicodedata.category(ch) != "Cc" and ch not in _BIDI)
    )
    return _SPACE.sub(" ", kept).strip()


def excerpt(text: str, limit: int) -> str:
    """`one_line(text)` cut to `limit` characters, with an ellipsis when cut; limit <= 0 keeps it whole."""
    flat = one_line(text)
    return flat if limit <= 0 or len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def md_escape(text: str) -> str:
    """Text for one Markdown table cell that renders literally: no markup, no HTML, no row breaks."""
    flat = one_line(text).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs: text starting with `=`, `+`, `-`, `@`, a tab or a carriage return
    gets a leading apostrophe (shown as typed, OWASP's CSV-injection defence); numbers and None pass as is."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def spreadsheet_row(values: Iterable[Any]) -> list[Any]:
    """`spreadsheet_safe` on every cell of a CSV row."""
    return [spreadsheet_safe(v) for v in values]


PAGE_TEXT_CHARS = 12_000
"""Most characters of one text (a prompt, an answer, a trace) an HTML page embeds: about what an LLM judge
reads of an answer by default, and small enough that a page with a few multi-megabyte answers still opens
and its item browser stays responsive."""


def cap_text(text: str, full_text_at: str, limit: int = PAGE_TEXT_CHARS) -> str:
    """`text` whole when it has at most `limit` characters, else its first three quarters of `limit` and
    its last quarter around a visible marker saying how many characters were left out and where the whole
    text is (`full_text_at`, e.g. "flames runs export RUN -o FILE.jsonl")."""
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    omitted = len(text) - head - tail
    marker = f"\n\n[… {omitted:,} characters omitted 已省略 {omitted} 字; the whole text: {full_text_at} …]\n\n"
    return text[:head] + marker + text[len(text) - tail :]
