"""URLs fit to record and to show: credentials masked.

A URL may carry a secret — a password in its `user:password@` part (`postgresql://flames:pw@db/flames`,
`https://user:pw@proxy.internal/v1`), or a key in a query parameter (`?api_key=…`, `?token=…`). Every URL
the tool stores in a record (store URLs, model servers' base URLs, endpoint pools) or shows (messages,
pages, reports, logs) goes through `masked_url` first. Standard library only, so any module may use it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

MASK = "***"

_USERINFO = re.compile(r"^(?P<user>[^:/@?#]*):(?P<password>.*)@(?P<host>[^@/?#]*)(?P<rest>[/?#].*)?$", re.DOTALL)
"""`user:password@host…` after the scheme. The password runs to the last `@` before the host, so a password
holding `@`, `/` or `?` unencoded (a malformed URL, as users type them) is masked whole — the same split as
SQLAlchemy's URL parser, except that `@` inside a password does not end it."""
_SECRET_PARAM = re.compile(r"(?<=[?&;])([^=&;#]*(?:key|token|secret|passw|pwd|sig|auth|credential)[^=&;#]*)=[^&;#]*",
                           re.IGNORECASE)  # fmt: skip
"""A query parameter whose name says it holds a secret (`api_key`, `api-key`, `access_token`, `sig`, …)."""


def masked_url(url: str) -> str:
    """`url` with its password and the values of its secret-looking query parameters replaced by `***`.

    `url` is any `scheme://…` text (HTTP base URLs, SQLAlchemy database URLs, malformed ones too); anything
    else, and a URL without credentials, is returned unchanged. The user name, host, path and the other
    parameters are kept as written, so the result still says which server and which account were used. A
    URL without an authority (`sqlite:////tmp/a@b/flames.db`) has no password to mask.

    >>> masked_url("https://u:pw@host/v1?api_key=sk-1&x=2")
    'https://u:***@host/v1?api_key=***&x=2'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if not rest.startswith("/") and (m := _USERINFO.match(rest)):
        rest = f"{m['user']}:{MASK}@{m['host']}{m['rest'] or ''}"
    path, q, query = rest.partition("?")
    if q:
        rest = path + _SECRET_PARAM.sub(lambda p: f"{p[1]}={MASK}", q + query)
    return scheme + sep + rest


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(`url` without its `user:password@` part, (user, password) percent-decoded) — or (`url`, None) when it
    has none. Parsed like `masked_url`, so a password holding `@` or `/` unencoded is taken whole.

    >>> split_credentials("https://u:p%40ss@proxy/v1")
    ('https://proxy/v1', ('u', 'p@ss'))
    """
    scheme, sep, rest = url.partition("://")
    if not sep or rest.startswith("/") or not (m := _USERINFO.match(rest)):
        return url, None
    return f"{scheme}{sep}{m['host']}{m['rest'] or ''}", (unquote(m["user"]), unquote(m["password"]))


def masked_urls(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with `masked_url` applied to every string in it:
    records written before URLs were masked are shown masked too."""
    if isinstance(value, str):
        return masked_url(value)
    if isinstance(value, dict):
        return {k: masked_urls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_urls(v) for v in value]
    return value
