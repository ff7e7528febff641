"""Request plumbing shared by the pages: the store, the signed-in user, role checks, ids, rendering.

Body size, session and CSRF checks of state-changing requests are not here but in `security.RequestGuard`,
which runs before any route (and before FastAPI parses a form), so every router mounted in the app inherits
them. Pages only render the session's token into their forms (`csrf_token`, first field of each form).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from flames.annotate.auth import User, new_csrf_token, session_user
from flames.annotate.errors import Forbidden
from flames.annotate.schema import Role
from flames.store import Store
from flames.taxonomy import SUBCOMPONENT_ZH, bilingual

TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(FilePath(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
)
PART = 2_000
"""Characters per block of a displayed text: the browser breaks lines within one block at a time, so even an
answer that is one 200,000-character "word" lays out in a blink (one such block took a minute)."""
FOLD_AFTER = 20_000
"""Texts longer than this show their first SHOWN characters, the rest one click away (`<details>`)."""
SHOWN = 5_000


def text_blocks(text: str) -> tuple[list[str], list[str]]:
    """(blocks shown, blocks folded away) of a text for display: blocks of at most PART characters, cut at a
    line break in the block's second half when there is one; everything is kept, in order."""
    blocks, start = [], 0
    while start < len(text):
        end = min(start + PART, len(text))
        if end < len(text):
            end = text.rfind("\n", start + PART // 2, end) + 1 or end
        blocks.append(text[start:end])
        start = end
    if len(text) <= FOLD_AFTER:
        return blocks, []
    shown = total = 0
    while total < SHOWN:
        total += len(blocks[shown])
        shown += 1
    return blocks[:shown], blocks[shown:]


TEMPLATES.env.globals.update(bilingual=bilingual, subcomponent_zh=SUBCOMPONENT_ZH, text_blocks=text_blocks)


class LoginRequired(Exception):
    """No valid session: the app answers with a redirect to the login page."""

    def __init__(self, path: str):
        self.path = path


MAX_ID = 2**31 - 1
"""Largest row id (PostgreSQL `integer`): a larger or non-numeric id in a path is a 404, never a 500."""
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form needs one before anyone signs in)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = new_csrf_token()
    return str(token)


def current_user(request: Request, store: StoreDep) -> User:
    """The signed-in user; a missing, stale (logged out, password changed) or disabled session redirects."""
    user = session_user(store, request.session)
    if user is None:
        request.session.pop("uid", None)
        raise LoginRequired(request.url.path)
    return user


UserDep = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[User], User]:
    """Dependency: the signed-in user if their role allows the page (admins always do), else 403."""

    def check(user: UserDep) -> User:
        if not user.can(*roles):
            allowed = ", ".join(r.value for r in (Role.ADMIN, *roles))
            raise Forbidden(f"this page is for {allowed}; you are signed in as {user.role.value}")
        return user

    return check


def render(
    request: Request, name: str, *, status_code: int = 200, templates: Jinja2Templates | None = None, **context: Any
) -> HTMLResponse:
    """A page with the session's CSRF token for its forms; `templates` lets other page modules (prompt design)
    render their own templates, which extend this package's `base.html`. Only the login page creates a token
    (and with it a session cookie): an error page shown to a visitor without a session, such as a refused
    cross-site request, must never set a cookie that would replace theirs."""
    context.setdefault("user", None)
    token = csrf_token(request) if name == "login.html" else str(request.session.get("csrf", ""))
    return (templates or TEMPLATES).TemplateResponse(
        request, name, {"csrf_token": token, **context}, status_code=status_code
    )
