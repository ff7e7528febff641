"""The annotation web app: FastAPI, server-rendered Jinja2 pages, one small script for keyboard shortcuts.

Sessions are signed cookies (HttpOnly, SameSite=Lax, Secure unless serving plain HTTP on loopback); every
state-changing request passes `security.RequestGuard` (size cap, session, CSRF token) before any route
code; every response, errors included, forbids inline scripts, framing and sniffing, so an adversarial
prompt or response that slipped past escaping still could not run. docs/security.md has the threat model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flames.annotate import admin, routes
from flames.annotate.auth import LoginLimiter, session_secret
from flames.annotate.errors import AnnotationError
from flames.annotate.limits import DEFAULT_MAX_BODY, DEFAULT_MAX_IMPORT
from flames.annotate.security import RequestGuard
from flames.annotate.summary_cache import SummaryCache
from flames.annotate.web import LoginRequired, render
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


_CRASH = "<!doctype html><meta charset=utf-8><title>500</title><p>服务器出错 Internal server error</p>".encode()


class SecurityHeaders:
    """Adds the headers above to every response (pure ASGI, so streaming exports keep streaming), including
    the 500 page of an unexpected error, which it sends itself before letting the error propagate to the log."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                headers = [(b"content-type", b"text/html; charset=utf-8"), *_HEADERS]
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": _CRASH})
            raise


def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AnnotationError)
    return render(request, "message.html", status_code=exc.status_code, title="出错了 Error", message=str(exc))


def _refusal(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "message.html", status_code=status, title="出错了 Error", message=message)


def _invalid_request(request: Request, exc: Exception) -> Response:
    """A malformed id in the path is a page that does not exist (404); a malformed form is a 400."""
    assert isinstance(exc, RequestValidationError)
    if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
        return _refusal(request, 404, "没有这个页面。No such page: the id in the address does not exist.")
    return _refusal(request, 400, "表单内容无效。The form was incomplete or invalid; go back and try again.")


def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303)


def create_app(
    store: Store,
    *,
    secure_cookies: bool = True,
    limiter: LoginLimiter | None = None,
    secret: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_import: int = DEFAULT_MAX_IMPORT,
) -> FastAPI:
    """The app over `store`. `secure_cookies=False` only for plain HTTP on a trusted machine (tests, loopback).
    `max_body` caps every request body in bytes (`--max-upload`), `max_import` the file uploads of the import
    pages (`--max-import`): the admin's, and prompt design's."""
    app = FastAPI(title="flames-eval annotation", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.limiter = limiter or LoginLimiter()
    app.state.summaries = SummaryCache()
    app.add_middleware(
        RequestGuard, store=store, refuse=_refusal, max_body=max_body,
        upload_limits={admin.IMPORT_PATH: max_import, design_routes.IMPORT_PATH: max_import},
    )  # fmt: skip
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
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.include_router(design_routes.router)
    return app


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost")


def server_options(forwarded_allow_ips: str | None) -> dict[str, Any]:
    """uvicorn's proxy settings: `X-Forwarded-For`/`-Proto` are believed only from the listed proxy addresses
    (comma-separated IPs or networks); without any, never (the client address is the TCP peer)."""
    ips = (forwarded_allow_ips or "").strip()
    return {"proxy_headers": bool(ips), "forwarded_allow_ips": ips or None}


def serve(
    store: Store,
    host: str,
    port: int,
    secure_cookies: bool | None = None,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_import: int = DEFAULT_MAX_IMPORT,
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run the app with uvicorn. Cookies are Secure except on loopback, where browsers reach it over HTTP."""
    import uvicorn

    secure = not is_loopback(host) if secure_cookies is None else secure_cookies
    if not secure and not is_loopback(host):
        log.warning("session cookies are not marked Secure while serving on %s: use HTTPS in front", host)
    app = create_app(store, secure_cookies=secure, max_body=max_body, max_import=max_import)
    uvicorn.run(app, host=host, port=port, **server_options(forwarded_allow_ips))
