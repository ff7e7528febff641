"""Accounts and the security primitives of the annotation server, free of web-framework imports so the
CLI can manage users without FastAPI.

Passwords are hashed with argon2id (argon2-cffi defaults, rehashed when they change); the session signing
key lives in the store so every worker and every restart shares it; failed logins are slowed per (user
name, client address) with growing delays and capped per client address; CSRF tokens are random per
session and compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
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


def session_user(store: Store, session: Mapping[str, object]) -> User | None:
    """The active user a signed session cookie belongs to, or None when it names nobody, a disabled account,
    or an older session version (logged out, password changed)."""
    uid, version = session.get("uid"), session.get("sv")
    user = get_user(store, uid) if isinstance(uid, int) else None
    return user if user is not None and user.active and user.session_version == version else None


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
    """Throttles failed logins without letting anyone lock another person out.

    Two independent limits, both on failures only:

    * per (user name, client address): the first `free` failures cost nothing; after the k-th failure (k >
      free) the next attempt must wait `base_delay * 2**(k - free - 1)` seconds (1 s, 2 s, 4 s, … at most
      `max_delay`).
      A success from that address, or `forget_s` without failures, clears it. Guessing from one address gets
      exponentially slow, while failures from any *other* address never slow the account's owner down.
    * per client address: at most `per_client` failures within `window_s`, whatever the user names, which
      stops one address from spraying guesses across many accounts.

    In memory, per process, bounded to `max_keys` entries per limit (the oldest are forgotten first), so a
    flood of invented names cannot exhaust memory. `clock` is injectable for tests.
    """

    def __init__(
        self,
        free: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        per_client: int = 20,
        window_s: float = 300.0,
        forget_s: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.free, self.base_delay, self.max_delay = free, base_delay, max_delay
        self.per_client, self.window_s, self.forget_s = per_client, window_s, forget_s
        self.max_keys, self._clock = max_keys, clock
        self._pairs: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th consecutive failure of one (user, address) pair."""
        if failures <= self.free:
            return 0.0
        return float(min(self.max_delay, self.base_delay * 2.0 ** min(failures - self.free - 1, 62)))

    def _pair_wait(self, key: tuple[str, str], now: float) -> float:
        failures, last = self._pairs.get(key, (0, now))
        if now - last > self.forget_s:
            self._pairs.pop(key, None)
            return 0.0
        return self.delay(failures) - (now - last)

    def _client_wait(self, client: str, now: float) -> float:
        q = self._clients.get(client)
        if q is None:
            return 0.0
        while q and now - q[0] > self.window_s:
            q.popleft()
        return self.window_s - (now - q[-self.per_client]) if len(q) >= self.per_client else 0.0

    def retry_after(self, username: str, client: str) -> float:
        """Seconds until this user name may try again from this address (0 when allowed now)."""
        now = self._clock()
        with self._lock:
            return max(0.0, self._pair_wait((username, client), now), self._client_wait(client, now))

    def failed(self, username: str, client: str) -> None:
        now = self._clock()
        with self._lock:
            failures, _ = self._pairs.pop((username, client), (0, now))
            self._pairs[(username, client)] = (failures + 1, now)
            q = self._clients.pop(client, None) or deque(maxlen=self.per_client)
            q.append(now)
            self._clients[client] = q
            for table in (self._pairs, self._clients):
                while len(table) > self.max_keys:
                    table.popitem(last=False)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._pairs.pop((username, client), None)
