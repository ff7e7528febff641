"""Text every store can hold: the characters no database column takes, replaced.

Two kinds of code points reach the tool from outside and cannot be stored as text:

- a lone UTF-16 surrogate (U+D800–U+DFFF): JSON allows `"\\ud800"` escapes, and a server that splits an
  emoji's bytes emits them; it is not a character, cannot be encoded as UTF-8, and SQLite's and
  PostgreSQL's drivers refuse it;
- NUL (U+0000): PostgreSQL's text and JSON columns reject it (SQLite takes it, so a run moved to a team
  store would break).

What a model sends (answers, reasoning traces, judge answers, error bodies, reply metadata) is made
storable where it enters the tool, each such code point replaced by U+FFFD (the Unicode replacement
character): replaced, not dropped, so the text keeps its length and a reader sees that something was there;
the completion's meta records how many were replaced per field (`REPLACED_KEY`). The store applies the same
replacement to everything it writes as a last guard. Files a user gives are refused instead, naming the
file, row and field (`flames.rowfiles`). Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
REPLACED_KEY = "replaced_characters"
"""Meta key of a completion or judgment: {field: number of code points replaced by U+FFFD}."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def first_unstorable(text: str) -> str | None:
    """The first code point of `text` no store can hold (NUL or a lone surrogate), or None."""
    found = _UNSTORABLE.search(text)
    return None if found is None else found.group()


def unstorable_in(value: Any) -> str | None:
    """The first code point no store can hold anywhere in a JSON-like value (strings, dict keys too), or None."""
    if isinstance(value, str):
        return first_unstorable(value)
    if isinstance(value, dict):
        value = [x for pair in value.items() for x in pair]
    if isinstance(value, list | tuple):
        return next((c for c in map(unstorable_in, value) if c is not None), None)
    return None


def storable_text(text: str) -> tuple[str, int]:
    """`text` with each NUL and lone surrogate replaced by U+FFFD, and how many were replaced."""
    if text.isascii() and "\x00" not in text:
        return text, 0
    return _UNSTORABLE.subn(REPLACEMENT, text)


def is_storable(value: Any) -> bool:
    """Whether a JSON-like value holds nothing to replace (the fast check on every write)."""
    if isinstance(value, str):
        return (value.isascii() and "\x00" not in value) or _UNSTORABLE.search(value) is None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        for item in value:  # a loop, not all(generator): this runs on every write
            if isinstance(item, str):
                if not item.isascii() or "\x00" in item:
                    if _UNSTORABLE.search(item) is not None:
                        return False
            elif isinstance(item, dict | list | tuple) and not is_storable(item):
                return False
    return True


def storable(value: Any) -> tuple[Any, int]:
    """A JSON-like value (str, dict, list, tuple, numbers, None) with `storable_text` applied to every string
    in it, dict keys included; returns (value, replacements). A value with nothing to replace is returned
    as is (the same object)."""
    if is_storable(value):
        return value, 0
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        pairs = [(storable(k), storable(v)) for k, v in value.items()]
        n = sum(k[1] + v[1] for k, v in pairs)
        return ({k[0]: v[0] for k, v in pairs} if n else value), n
    if isinstance(value, list | tuple):
        items = [storable(v) for v in value]
        n = sum(i[1] for i in items)
        return (type(value)(i[0] for i in items) if n else value), n
    return value, 0


def describe_code_point(char: str) -> str:
    """`U+D800 (a lone UTF-16 surrogate, not a character)` or `U+0000 (NUL)`, for error messages."""
    what = "NUL" if char == "\x00" else "a lone UTF-16 surrogate, not a character"
    return f"U+{ord(char):04X} ({what})"
