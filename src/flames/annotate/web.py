"""Request plumbing shared by the pages: the store, the signed-in user, role checks, CSRF, rendering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from flames.annotate.auth import User, get_user, new_csrf_token, same_token
from flames.annotate.errors import AnnotationError, Forbidden
from flames.annotate.schema import Role
from flames.store import Store
from flames.taxonomy import SUBCOMPONENT_ZH, bilingual

TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
)
TEMPLATES.env.globals.update(bilingual=bilingual, subcomponent_zh=SUBCOMPONENT_ZH)


class LoginRequired(Exception):
    """No valid session: the app answers with a redirect to the login page."""

    def __init__(self, path: str):
        self.path = path


class CsrfError(AnnotationError):
    status_code = 403


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


async def check_csrf(request: Request) -> None:
    """Every state-changing request must echo the session's token in the form field `csrf_token`."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    given = form.get("csrf_token")
    if not same_token(request.session.get("csrf"), given if isinstance(given, str) else None):
        raise CsrfError("the form expired or did not come from this site (CSRF check failed); reload the page")


def current_user(request: Request, store: StoreDep) -> User:
    """The signed-in user; a missing, stale (logged out, password changed) or disabled session redirects."""
    uid, version = request.session.get("uid"), request.session.get("sv")
    user = get_user(store, uid) if isinstance(uid, int) else None
    if user is None or not user.active or user.session_version != version:
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
    """A page with the session's CSRF token; `templates` lets other page modules (prompt design) render their
    own templates, which extend this package's `base.html`."""
    context.setdefault("user", None)
    return (templates or TEMPLATES).TemplateResponse(
        request, name, {"csrf_token": csrf_token(request), **context}, status_code=status_code
    )
