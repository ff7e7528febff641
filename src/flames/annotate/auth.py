"""Accounts and the security primitives of the annotation server, free of web-framework imports so the
CLI can manage users without FastAPI.

Passwords are hashed with argon2id (argon2-cffi defaults, rehashed when they change); the session signing
key lives in the store so every worker and every restart shares it; failed logins are rate limited per
user name and per client address; CSRF tokens are random per session and compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from flames.annotate.errors import AnnotationError, Conflict, NotFound
from flames.annotate.schema import Role, SettingRow, UserRow
from flames.store import Store

MIN_PASSWORD = 8
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))
"""Verified against when the user does not exist, so timing does not reveal which names are taken."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    active: bool
    session_version: int

    def can(self, *roles: Role) -> bool:
        """Admins can do everything; others only what their role lists."""
        return self.role == Role.ADMIN or self.role in roles


def _user(row: UserRow) -> User:
    return User(row.id, row.username, Role(row.role), row.active, row.session_version)


def parse_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError as err:
        raise AnnotationError(f"unknown role {role!r}; expected one of {', '.join(r.value for r in Role)}") from err


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AnnotationError(f"password too short: use at least {MIN_PASSWORD} characters")


def add_user(store: Store, username: str, password: str, role: Role) -> User:
    """Create an account; names are unique and case-sensitive."""
    username = username.strip()
    if not username or len(username) > 80 or any(c.isspace() for c in username):
        raise AnnotationError("user names must be 1-80 characters without spaces")
    _check_password(password)
    try:
        with store.session() as s, s.begin():
            row = UserRow(username=username, password_hash=_HASHER.hash(password), role=role, active=True)
            s.add(row)
            s.flush()
            return _user(row)
    except IntegrityError as err:
        raise Conflict(f"user {username!r} already exists") from err


def set_password(store: Store, username: str, password: str) -> None:
    """Change a password and end every session of that user."""
    _check_password(password)
    with store.session() as s, s.begin():
        done = s.execute(
            update(UserRow)
            .where(UserRow.username == username)
            .values(password_hash=_HASHER.hash(password), session_version=UserRow.session_version + 1)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"no user named {username!r}")


def set_active(store: Store, user_id: int, active: bool) -> None:
    """Enable or disable an account; disabling ends its sessions at their next request."""
    with store.session() as s, s.begin():
        s.execute(
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(active=active, session_version=UserRow.session_version + 1)
        )


def end_sessions(store: Store, user_id: int) -> None:
    """Invalidate every session cookie of the user (logout)."""
    with store.session() as s, s.begin():
        s.execute(update(UserRow).where(UserRow.id == user_id).values(session_version=UserRow.session_version + 1))


def get_user(store: Store, user_id: int) -> User | None:
    with store.session() as s:
        row = s.get(UserRow, user_id)
        return _user(row) if row is not None else None


def list_users(store: Store) -> list[User]:
    with store.session() as s:
        return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work whether or not the name exists)."""
    with store.session() as s:
        row = s.scalar(select(UserRow).where(UserRow.username == username))
    try:
        _HASHER.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        with store.session() as s, s.begin():
            s.execute(update(UserRow).where(UserRow.id == row.id).values(password_hash=_HASHER.hash(password)))
    return _user(row)


def session_secret(store: Store) -> str:
    """The cookie signing key, created once per store (FLAMES_ANNOTATE_SECRET overrides it in the app)."""
    with store.session() as s, s.begin():
        row = s.get(SettingRow, "session_secret")
        if row is None:
            row = SettingRow(key="session_secret", value=secrets.token_urlsafe(48))
            s.add(row)
        return row.value


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginLimiter:
    """Sliding-window limit on failed logins, per user name and per client address.

    In memory, per process: enough to stop password guessing against one server; behind several workers
    each enforces its own window.
    """

    def __init__(self, per_user: int = 5, per_client: int = 20, window_s: float = 300.0):
        self.per_user, self.per_client, self.window_s = per_user, per_client, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after(self, username: str, client: str) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                self.window_s - (now - q[0])
                for key, limit in ((f"u:{username}", self.per_user), (f"c:{client}", self.per_client))
                if len(q := self._recent(key, now)) >= limit
            ]
        return max(waits, default=0.0)

    def failed(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[f"u:{username}"].append(now)
            self._failures[f"c:{client}"].append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{username}", None)
