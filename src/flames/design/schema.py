"""Tables of the prompt design system (Alembic revision 0004_design), on the run store's declarative `Base`.

A collection is a red team's project: its prompts, the panel of models they are tried on, the request
budget that caps what tries may cost, and the review policy. Every change of a prompt's state is one
`dsg_decisions` row (who, when, from which state to which, why), so the history is never lost. Writers of a
prompt bump its `version` first, which serialises them on SQLite (write lock) and PostgreSQL (row lock).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flames.annotate.schema import UserRow
from flames.store.schema import Base, utcnow

_USERS = f"{UserRow.__tablename__}.id"


class PromptStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    ADJUDICATION = "adjudication"
    """Reviewers disagreed; an adjudicator decides (part of review)."""
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class MethodRow(Base):
    """An attack method of the open vocabulary (seeded by the migration, extended by users)."""

    __tablename__ = "dsg_methods"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    definition_zh: Mapped[str] = mapped_column(Text)
    definition_en: Mapped[str] = mapped_column(Text)
    example: Mapped[str] = mapped_column(Text, default="")
    provenance: Mapped[str] = mapped_column(Text)
    mappings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Other taxonomies' names for the method, e.g. {"garak": ["probes.dan"], "safety-prompts": [...]}."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CollectionRow(Base):
    __tablename__ = "dsg_collections"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(String(200), default="")
    reviewers_required: Mapped[int] = mapped_column(Integer, default=2)
    require_success: Mapped[bool] = mapped_column(Boolean, default=False)
    """The acceptance gate: refuse to accept prompts that fooled no panel model."""
    embeddings: Mapped[bool] = mapped_column(Boolean, default=False)
    """Also search near-duplicates by embedding (slower, catches paraphrases)."""
    request_budget: Mapped[int] = mapped_column(Integer, default=0)
    requests_used: Mapped[int] = mapped_column(Integer, default=0)
    panel: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey(_USERS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DesignPromptRow(Base):
    __tablename__ = "dsg_prompts"
    __table_args__ = (
        UniqueConstraint("collection_id", "uid"),
        Index("ix_dsg_prompts_collection_status", "collection_id", "status"),
        Index("ix_dsg_prompts_collection_updated", "collection_id", "updated_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("dsg_collections.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(200))
    """The prompt's stable id: set once, kept through edits, written as `id` in releases."""
    dimension: Mapped[str] = mapped_column(String(40))
    subcomponent: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    attack_methods: Mapped[list[Any]] = mapped_column(JSON, default=list)
    intent: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=PromptStatus.DRAFT.value)
    round: Mapped[int] = mapped_column(Integer, default=0)
    """Review round: incremented each time the prompt is submitted; reviews count within one round."""
    reason: Mapped[str | None] = mapped_column(Text)
    """Why it was rejected (or the adjudicator's note)."""
    author_id: Mapped[int] = mapped_column(ForeignKey(_USERS))
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DecisionRow(Base):
    """One event in a prompt's life: created, edited, submitted, reviewed, adjudicated, tried..."""

    __tablename__ = "dsg_decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("dsg_prompts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(_USERS))
    action: Mapped[str] = mapped_column(String(30))
    round: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(20))
    """accept / reject for reviews and adjudications."""
    reason: Mapped[str | None] = mapped_column(Text)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    """The prompt's content when the decision was taken."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TryRow(Base):
    """A request to run one prompt (one content version) on the collection's panel."""

    __tablename__ = "dsg_tries"
    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("dsg_prompts.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey(_USERS))
    status: Mapped[str] = mapped_column(String(20))
    """running, done, failed."""
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReleaseRow(Base):
    """An immutable released prompt set: the JSONL bytes, manifest and data card as written."""

    __tablename__ = "dsg_releases"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("dsg_collections.id"))
    name: Mapped[str] = mapped_column(String(80))
    version: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    prompts_jsonl: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    datacard: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey(_USERS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EmbeddingRow(Base):
    """Cached text embeddings for near-duplicate search, keyed by the text's sha256 and the model."""

    __tablename__ = "dsg_embeddings"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(80), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
