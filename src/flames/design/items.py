"""Prompts of a collection as plain records, their decision history, and the write lock every change takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flames.annotate.errors import AnnotationError, NotFound
from flames.design.collection import Collection
from flames.design.people import usernames
from flames.design.schema import DecisionRow, DesignPromptRow, PromptStatus
from flames.design.vocabulary import join_methods
from flames.records import Prompt
from flames.store import Store
from flames.store.schema import utcnow
from flames.taxonomy import Dimension

MAX_TEXT = 10_000
MAX_NOTE = 4_000


@dataclass(frozen=True)
class DesignPrompt:
    id: int
    uid: str
    collection_id: int
    dimension: Dimension
    subcomponent: str
    text: str
    sha256: str
    attack_methods: tuple[str, ...]
    intent: str
    tags: tuple[str, ...]
    status: PromptStatus
    round: int
    reason: str | None
    author_id: int
    author: str
    created_at: datetime
    updated_at: datetime

    @property
    def attack_method(self) -> str | None:
        """The `attack_method` field of prompt files: the methods joined with `+`."""
        return join_methods(self.attack_methods)

    def as_prompt(self) -> Prompt:
        """The prompt as the pipeline sees it (stable id, methods joined, intent and tags as metadata)."""
        meta: dict[str, Any] = {"intent": self.intent, "tags": list(self.tags)}
        return Prompt(self.uid, self.dimension, self.subcomponent, self.text, self.attack_method, meta)


@dataclass(frozen=True)
class Decision:
    """One entry of a prompt's history."""

    action: str
    user: str
    round: int
    decision: str | None
    reason: str | None
    from_status: str
    to_status: str
    sha256: str
    at: datetime


def _record(row: DesignPromptRow, names: dict[int, str]) -> DesignPrompt:
    return DesignPrompt(
        row.id, row.uid, row.collection_id, Dimension(row.dimension), row.subcomponent, row.text, row.sha256,
        tuple(row.attack_methods or ()), row.intent, tuple(row.tags or ()), PromptStatus(row.status), row.round,
        row.reason, row.author_id, names.get(row.author_id, "?"), row.created_at, row.updated_at,
    )  # fmt: skip


def get_prompt(store: Store, collection: Collection, uid: str) -> DesignPrompt:
    with store.session() as s:
        row = s.scalar(
            select(DesignPromptRow).where(DesignPromptRow.collection_id == collection.id, DesignPromptRow.uid == uid)
        )
        if row is None:
            raise NotFound(f"no prompt {uid!r} in collection {collection.name!r}")
        return _record(row, usernames(store))


def list_prompts(
    store: Store, collection: Collection, status: PromptStatus | None = None, method: str | None = None
) -> list[DesignPrompt]:
    """The collection's prompts, oldest first; optionally only one state or one attack method."""
    q = select(DesignPromptRow).where(DesignPromptRow.collection_id == collection.id)
    if status is not None:
        q = q.where(DesignPromptRow.status == status.value)
    names = usernames(store)
    with store.session() as s:
        rows = [_record(r, names) for r in s.scalars(q.order_by(DesignPromptRow.id))]
    return [r for r in rows if method is None or method in r.attack_methods]


def history(store: Store, prompt: DesignPrompt) -> list[Decision]:
    """Every decision taken on the prompt, oldest first."""
    names = usernames(store)
    with store.session() as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.prompt_id == prompt.id).order_by(DecisionRow.id))
        return [Decision(r.action, names.get(r.user_id, "?"), r.round, r.decision, r.reason, r.from_status,
                         r.to_status, r.sha256, r.created_at) for r in rows]  # fmt: skip


def lock(s: Session, prompt_id: int) -> DesignPromptRow:
    """Serialise writers on one prompt (bump `version` first: SQLite's write lock, PostgreSQL's row lock) and
    return its current row."""
    bumped = s.execute(
        update(DesignPromptRow).where(DesignPromptRow.id == prompt_id).values(version=DesignPromptRow.version + 1)
    )
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"prompt {prompt_id} does not exist")
    return s.get_one(DesignPromptRow, prompt_id, populate_existing=True)


def log(
    s: Session, row: DesignPromptRow, user_id: int, action: str, from_status: str, *,
    decision: str | None = None, reason: str | None = None,
) -> None:  # fmt: skip
    """Append a decision for the row's current state (call after changing it, in the same transaction)."""
    s.add(DecisionRow(prompt_id=row.id, user_id=user_id, action=action, round=row.round, decision=decision,
                      reason=reason, from_status=from_status, to_status=row.status, sha256=row.sha256,
                      created_at=utcnow()))  # fmt: skip


def clean(text: str | None, what: str, *, required: bool = False, limit: int = MAX_NOTE) -> str:
    """Stripped text; AnnotationError when required and empty, or longer than `limit`."""
    text = (text or "").strip()
    if required and not text:
        raise AnnotationError(f"a {what} is required")
    if len(text) > limit:
        raise AnnotationError(f"the {what} is too long ({len(text)} characters; at most {limit})")
    return text
