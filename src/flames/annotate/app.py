"""The annotation web app: FastAPI, server-rendered Jinja2 pages, one small script for keyboard shortcuts.

Sessions are signed cookies (HttpOnly, SameSite=Lax, Secure unless serving plain HTTP on loopback),
every form carries a CSRF token, and every response forbids inline scripts, framing and sniffing, so an
adversarial prompt or response that slipped past escaping still could not run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flames.annotate import admin, routes
from flames.annotate.auth import LoginLimiter, session_secret
from flames.annotate.errors import AnnotationError
from flames.annotate.web import LoginRequired, check_csrf, render
from flames.design_web import routes as design_routes
from flames.store import Store

SESSION_HOURS = 12
SECRET_ENV = "FLAMES_ANNOTATE_SECRET"
_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]  # fmt: skip
log = logging.getLogger(__name__)


class SecurityHeaders:
    """Adds the headers above to every response (pure ASGI, so streaming exports keep streaming)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AnnotationError)
    return render(request, "message.html", status_code=exc.status_code, title="出错了 Error", message=str(exc))


def _invalid_form(request: Request, exc: Exception) -> Response:
    return render(request, "message.html", status_code=422, title="出错了 Error",
                  message="表单内容无效。The form was incomplete or invalid; go back and try again.")  # fmt: skip


def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303)


def create_app(
    store: Store, *, secure_cookies: bool = True, limiter: LoginLimiter | None = None, secret: str | None = None
) -> FastAPI:
    """The app over `store`. `secure_cookies=False` only for plain HTTP on a trusted machine (tests, loopback)."""
    app = FastAPI(
        title="flames-eval annotation", docs_url=None, redoc_url=None, openapi_url=None,
        dependencies=[Depends(check_csrf)],
    )  # fmt: skip
    app.state.store = store
    app.state.limiter = limiter or LoginLimiter()
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret or os.environ.get(SECRET_ENV) or session_secret(store),
        session_cookie="flames_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=secure_cookies,
    )
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(AnnotationError, _error_page)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(RequestValidationError, _invalid_form)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.include_router(design_routes.router)
    return app


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost")


def serve(store: Store, host: str, port: int, secure_cookies: bool | None = None) -> None:
    """Run the app with uvicorn. Cookies are Secure except on loopback, where browsers reach it over HTTP."""
    import uvicorn

    secure = not is_loopback(host) if secure_cookies is None else secure_cookies
    if not secure and not is_loopback(host):
        log.warning("session cookies are not marked Secure while serving on %s: use HTTPS in front", host)
    uvicorn.run(create_app(store, secure_cookies=secure), host=host, port=port)
