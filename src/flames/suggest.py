"""Commands the tool suggests to its user ("see it again with `flames report NAME`"), written so that they
can be pasted into a POSIX shell as printed: standard library only, importable from any layer."""

from __future__ import annotations

import re
import shlex

_PLAIN = re.compile(r"[\w@%+=:,./-]+")
"""A word the shell reads as it is: shlex's safe characters, with letters and digits of any script (评测)."""


def flames_command(*words: str) -> str:
    """`flames` followed by `words`, each shell-quoted (`shlex.quote`) unless it is plain (`_PLAIN`): a run
    named `a b` or `x;rm -rf ~` is suggested as `flames report 'a b'` or `flames report 'x;rm -rf ~'`, while
    options, placeholders (SPEC, N, ...) and Chinese names print unchanged."""
    return " ".join(w if _PLAIN.fullmatch(w) else shlex.quote(w) for w in ("flames", *words))
