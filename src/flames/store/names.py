"""What may name a run: checked when a run is created, so every later listing, report and suggested command
shows the name as typed. Standard library only (the command line may check a name before the store loads)."""

from __future__ import annotations

import unicodedata

from flames.store.errors import StoreError

RUN_NAME_MAX = 200
"""Characters a run name may have (the `runs.name` column)."""

_HIDDEN = {"Cc": "a control character", "Cf": "an invisible formatting character", "Cs": "a lone surrogate",
           "Co": "a private-use character", "Zl": "a line separator", "Zp": "a paragraph separator"}  # fmt: skip
"""Unicode general categories refused in names, with what they are. Cf holds the bidirectional overrides
(U+202A-U+202E, U+2066-U+2069) that make a terminal show a name reversed, and zero-width characters."""


def _escaped(name: str) -> str:
    """`name` with each refused character written as its escape (\\u202e), the rest as it is."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in _HIDDEN else c for c in name)


def check_run_name(name: str, what: str = "run name") -> str:
    """`name` unchanged if it can name a run (or, with `what`, another thing users see listed, such as a
    prompt id): 1 to RUN_NAME_MAX characters, no space at either end, and no character of the categories in
    `_HIDDEN` (Unicode general categories, UAX #44), which a terminal or page would not show as typed. Raises
    StoreError naming the first such character by code point, name and position."""
    if not name.strip():
        raise StoreError(f"a {what} cannot be empty")
    if len(name) > RUN_NAME_MAX:
        raise StoreError(f"{what} {name[:40]!r}… has {len(name)} characters; at most {RUN_NAME_MAX}")
    if name != name.strip():
        raise StoreError(f"{what} {name!r} begins or ends with a space; leave it out")
    for i, char in enumerate(name, 1):
        hidden = _HIDDEN.get(unicodedata.category(char))
        if hidden is not None:
            label = unicodedata.name(char, "")
            raise StoreError(
                f"{what} '{_escaped(name)}' has {hidden} at position {i}: U+{ord(char):04X}"
                + (f" {label}" if label else "")
                + f"; a {what} is shown in listings, reports and suggested commands, so use visible characters"
            )
    return name
