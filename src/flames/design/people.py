"""Who may do what in prompt design, on the annotation app's accounts.

Authors write, import and try prompts; reviewers also review other people's prompts; adjudicators (the
annotation role) also settle reviewers' disagreements; admins do everything, including the panel, budget,
review policy and releases. Annotators have no part in prompt design.
"""

from __future__ import annotations

from sqlalchemy import select

from flames.annotate.auth import User, get_user
from flames.annotate.errors import Forbidden, NotFound
from flames.annotate.schema import Role, UserRow
from flames.store import Store
from flames.suggest import flames_command

WRITERS: tuple[Role, ...] = (Role.AUTHOR, Role.REVIEWER, Role.ADJUDICATOR)
REVIEWERS: tuple[Role, ...] = (Role.REVIEWER, Role.ADJUDICATOR)
ADJUDICATORS: tuple[Role, ...] = (Role.ADJUDICATOR,)
ADMINS: tuple[Role, ...] = ()
"""Role sets for `User.can` (admins always pass; the empty set means admins only)."""


def check(user: User, roles: tuple[Role, ...], what: str) -> None:
    """Raise Forbidden unless the user's role is one of `roles` (or admin); the message names who may."""
    if not user.active:
        raise Forbidden(f"account {user.username!r} is disabled")
    if not user.can(*roles):
        allowed = ", ".join(r.value for r in (Role.ADMIN, *roles))
        raise Forbidden(f"{what} is for {allowed}; {user.username} is {user.role.value}")


def user_named(store: Store, username: str) -> User:
    """The account called `username` (the CLI's `--as`); NotFound says how to create one."""
    with store.session() as s:
        uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
    user = get_user(store, uid) if uid is not None else None
    if user is None:
        raise NotFound(
            f"no account named {username!r}; create it with"
            f" `{flames_command('annotate', 'user', 'add', username, '--role', 'author')}`"
        )
    return user


def usernames(store: Store) -> dict[int, str]:
    """Account id → user name, for showing who did what."""
    with store.session() as s:
        return {int(i): str(n) for i, n in s.execute(select(UserRow.id, UserRow.username))}
