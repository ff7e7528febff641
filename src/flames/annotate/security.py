"""Request-level controls of the annotation server. They run for every route of the app, the routes of any
module mounted in it included, before route code, dependencies or body parsing.

`RequestGuard` (pure ASGI, inside the session middleware) takes every request whose method may carry a
body and change state (anything but GET, HEAD and OPTIONS), in this order:

1. **Size.** A declared `Content-Length` above the route's limit is refused (413) before a byte is read; a
   streamed (chunked) body is counted as it arrives and refused once it passes the limit.
2. **Session.** Outside the public paths (the login form), the request must carry the signed session of
   an active account; otherwise it is refused (403) without reading the body.
3. **CSRF.** The session's token must come back in the `X-CSRF-Token` header or in the form field
   `csrf_token`. In a multipart form that field must be the *first* part (put the hidden input first in
   the form; browsers send fields in document order), so only that small part is read before the check,
   never a file.

Then an ordinary request's body is buffered (at most `max_body` bytes) and replayed to the route. A route
registered in `upload_limits` gets the stream instead, counted against its own limit, and reads it itself
with `read_upload` once its own authorisation has passed: a file reaches the disk only after that.

Refusals never create or replace a session cookie: a cross-site request (which carries no cookie under
SameSite=Lax) cannot log the visitor out.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import anyio.to_thread
from python_multipart.multipart import parse_options_header
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flames.annotate.auth import same_token, session_user
from flames.annotate.errors import AnnotationError
from flames.annotate.limits import DEFAULT_MAX_BODY
from flames.store import Store

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FIRST_PART_LIMIT = 16 << 10
"""How much of a multipart body is read, at most, to find the leading `csrf_token` field."""
MAX_FIELD = 64 << 10
"""Largest plain (non-file) field of an upload form."""
CSRF_FAILED = (
    "表单已过期或来自其他网站，请刷新页面。"
    "The form expired or did not come from this site (CSRF check failed); reload the page."
)
Refusal = Callable[[Request, int, str], Response]
log = logging.getLogger(__name__)


class TooLarge(AnnotationError):
    status_code = 413


class BodyTooLarge(Exception):
    """Raised while reading a request body that passes its limit."""

    def __init__(self, limit: int):
        super().__init__(f"the request is larger than this server accepts ({limit:,} bytes at most)")
        self.limit = limit


class _Body:
    """The request body as it arrives, counted against `limit`."""

    def __init__(self, receive: Receive, limit: int):
        self.receive, self.limit = receive, limit
        self.seen, self.done = 0, False

    async def chunk(self) -> bytes:
        if self.done:
            return b""
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        data: bytes = message.get("body", b"")
        self.seen += len(data)
        if self.seen > self.limit:
            raise BodyTooLarge(self.limit)
        self.done = not message.get("more_body", False)
        return data

    async def rest(self, head: bytes) -> bytes:
        parts = [head]
        while not self.done:
            parts.append(await self.chunk())
        return b"".join(parts)


def _replay(head: bytes, body: _Body, receive: Receive) -> Receive:
    """A `receive` that hands the route `head` (what the guard already read), then the rest of `body`,
    then the server's own messages (a route waiting for a disconnect gets it)."""
    first = True

    async def replayed() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": head, "more_body": not body.done}
        if body.done:
            return await receive()
        data = await body.chunk()
        return {"type": "http.request", "body": data, "more_body": not body.done}

    return replayed


def _part_name(head: bytes) -> str | None:
    for line in head.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-disposition":
            _, params = parse_options_header(value.strip())
            name = params.get(b"name")
            return name.decode("utf-8", "replace") if name is not None else None
    return None


async def _leading_field(body: _Body, boundary: bytes) -> tuple[bytes, str | None]:
    """Read a multipart body until its first part is complete (at most FIRST_PART_LIMIT bytes); returns what
    was read and that part's value when it is the CSRF field."""
    delimiter = b"--" + boundary
    read = b""
    while True:
        start = read.find(delimiter + b"\r\n")
        head_end = read.find(b"\r\n\r\n", start) if start >= 0 else -1
        end = read.find(b"\r\n" + delimiter, head_end + 4) if head_end >= 0 else -1
        if end >= 0:
            if _part_name(read[start + len(delimiter) + 2 : head_end]) != CSRF_FIELD:
                return read, None
            return read, read[head_end + 4 : end].decode("utf-8", "replace")
        if body.done or len(read) > FIRST_PART_LIMIT:
            return read, None
        read += await body.chunk()


def _form_token(data: bytes) -> str | None:
    values = parse_qs(data.decode("utf-8", "replace"), keep_blank_values=True).get(CSRF_FIELD)
    return values[0] if values else None


def _path_pattern(template: str) -> re.Pattern[str]:
    """A route path such as `/design/c/{name}/import` as a regex matching its concrete paths."""
    parts = re.split(r"\{[^}/]+\}", template)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


class RequestGuard:
    """The checks of the module docstring. `upload_limits` maps the paths of streaming upload routes (route
    templates: `{param}` matches one path segment) to their own size limits; `public` are the paths that need
    no session (CSRF still applies)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Store,
        refuse: Refusal,
        max_body: int = DEFAULT_MAX_BODY,
        upload_limits: Mapping[str, int] | None = None,
        public: frozenset[str] = frozenset({"/login"}),
    ):
        self.app, self.store, self.refuse = app, store, refuse
        self.max_body, self.public = max_body, public
        self.upload_limits = [(_path_pattern(path), limit) for path, limit in (upload_limits or {}).items()]

    def _upload_limit(self, path: str) -> int | None:
        return next((limit for pattern, limit in self.upload_limits if pattern.match(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        kind, params = parse_options_header(headers.get("content-type", ""))
        upload_limit = self._upload_limit(path) if kind == b"multipart/form-data" else None
        streaming = upload_limit is not None
        limit = upload_limit if upload_limit is not None else self.max_body
        declared = headers.get("content-length")
        if declared is not None and not declared.strip().isdigit():
            return await self._refuse(scope, send, 400, "the request has an invalid Content-Length header")
        if declared is not None and int(declared) > limit:
            return await self._refuse(scope, send, 413, str(BodyTooLarge(limit)))
        session = scope.get("session") or {}
        if path not in self.public and await anyio.to_thread.run_sync(session_user, self.store, session) is None:
            message = "请先登录。Sign in first: your session ended, or this request came from another site."
            return await self._refuse(scope, send, 403, message)
        body = _Body(receive, limit)
        try:
            head, token = await self._token(headers, kind, params, body)
            if not same_token(session.get("csrf"), token):
                return await self._refuse(scope, send, 403, CSRF_FAILED)
            if not streaming:
                head = await body.rest(head)
        except BodyTooLarge as err:
            return await self._refuse(scope, send, 413, str(err))
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _replay(head, body, receive), tracked)
        except BodyTooLarge as err:  # a streaming route that did not handle it itself
            if started:
                raise
            await self._refuse(scope, send, 413, str(err))

    @staticmethod
    async def _token(
        headers: Headers, kind: bytes, params: dict[bytes, bytes], body: _Body
    ) -> tuple[bytes, str | None]:
        """(body bytes read so far, the CSRF token the request carries)."""
        if CSRF_HEADER in headers:
            return b"", headers[CSRF_HEADER]
        if kind == b"multipart/form-data" and params.get(b"boundary"):
            return await _leading_field(body, params[b"boundary"])
        if kind == b"application/x-www-form-urlencoded":
            data = await body.rest(b"")
            return data, _form_token(data)
        return b"", None

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str) -> None:
        async def no_body() -> Message:  # the refusal never reads the request
            return {"type": "http.disconnect"}

        await self.refuse(Request(scope), status, message)(scope, no_body, send)


@dataclass
class Upload:
    """An upload form read by `read_upload`: its text fields and the one file (spooled to a temporary file,
    which is deleted when closed)."""

    fields: dict[str, str]
    file: UploadFile | None


async def read_upload(request: Request, file_field: str = "file", max_fields: int = 10) -> Upload:
    """Read an upload form, streaming its file to a temporary file. Call it from a route registered in
    `RequestGuard.upload_limits`, after the route's own authorisation. A URL-encoded form (no file) is
    accepted too. Malformed forms raise AnnotationError (400) with the parser's reason; a body over the
    route's limit raises TooLarge (413)."""
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    if kind not in (b"multipart/form-data", b"application/x-www-form-urlencoded"):
        raise AnnotationError("expected a form upload (multipart/form-data, or URL-encoded fields without a file)")
    try:
        form: FormData = await request.form(max_files=1, max_fields=max_fields, max_part_size=MAX_FIELD)
    except HTTPException as err:  # Starlette's report of a malformed multipart body
        raise AnnotationError(f"the upload could not be read: {err.detail}") from err
    except BodyTooLarge as err:
        raise TooLarge(str(err)) from err
    fields, file = {}, None
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key] = value
        elif key == file_field:
            file = value
        else:
            raise AnnotationError(f"unexpected file field {key!r}; upload the file as {file_field!r}")
    return Upload(fields, file)


_ODD = re.compile(r"[^\w.\- ]+")


def upload_name(filename: str) -> str:
    """An uploaded file's name fit for a run name, a temporary file and messages: no folders, control or odd
    characters, no leading dots, at most 100 characters ("upload" when nothing is left)."""
    base = re.split(r"[/\\]", filename)[-1]
    return _ODD.sub("_", base).lstrip(".")[:100] or "upload"


@contextmanager
def upload_on_disk(file: UploadFile) -> Iterator[tuple[Path, str]]:
    """The uploaded file streamed into a fresh temporary folder under `upload_name` of its name, for readers
    that take a path (its suffix says the format); the folder is deleted on exit. Yields (path, name).

    The content is hostile input, so whatever a reader raises inside the block is the file's fault: a 400
    (AnnotationError) naming the user's file, never our temporary copy, and never a 500. Refusals of the
    app's own (AnnotationError) pass unchanged, and database failures other than a value the database cannot
    hold (a NUL character in PostgreSQL text) stay server errors."""
    name = upload_name(file.filename or "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        try:
            yield path, name
        except DataError as err:
            raise AnnotationError(f"{name}: holds a value the database cannot store ({err.orig})") from err
        except (AnnotationError, SQLAlchemyError):
            raise
        except Exception as err:
            log.info("upload %s refused: %r", name, err)
            reason = str(err).replace(str(path), name).replace(tmp, "")
            raise AnnotationError(
                reason if reason.startswith(name) else f"{name}: cannot be imported ({reason})"
            ) from err
