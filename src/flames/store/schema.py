"""SQLAlchemy 2 tables of the run store.

One row per unit of work (a response, a judgment), each committed on its own so a crash loses at most what
was in flight. The schema is created and upgraded only by Alembic (`flames/store/migrations`); change a
table here and add a revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class PromptSetRow(Base):
    """A prompt set as it was when a run used it (content-addressed by sha256)."""

    __tablename__ = "prompt_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    n_prompts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PromptRow(Base):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("prompt_set_id", "prompt_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_sets.id", ondelete="CASCADE"), index=True)
    prompt_id: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    dimension: Mapped[str] = mapped_column(String(40))
    subcomponent: Mapped[str] = mapped_column(String(80))
    attack_method: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RunRow(Base):
    """A model's responses to a prompt set under one generation config."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_sets.id"), index=True)
    model_spec: Mapped[str] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(40))
    resolved_model: Mapped[str | None] = mapped_column(Text)
    generation_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_hash: Mapped[str] = mapped_column(String(64))
    samples: Mapped[int] = mapped_column(Integer, default=1)
    tool_version: Mapped[str] = mapped_column(String(40))
    git_commit: Mapped[str | None] = mapped_column(String(40))
    data_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="created")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResponseRow(Base):
    """One sample of a model's answer to one prompt (one row per slot, whatever its outcome).

    status 'ok': an answer; 'blocked': the provider withheld it; 'no_answer': the model gave no final answer
    (both final: `error` says why, with the provider's code and message, text is NULL); 'failed': a transient
    fault, `error` holds the last one and the slot is retried on resume (text NULL). `reasoning` is the
    model's reasoning trace, kept apart from the answer and never scored.
    """

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("run_id", "prompt_row_id", "sample_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    prompt_row_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    sample_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reasoning: Mapped[str | None] = mapped_column(Text)


class ScorerRow(Base):
    """A scorer identity: spec plus a hash of its full config, so re-configured scorers never mix."""

    __tablename__ = "scorers"
    __table_args__ = (UniqueConstraint("name", "config_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    config_hash: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kind: Mapped[str] = mapped_column(String(20), default="model")
    """'model' (official scorer, judge, trained), 'imported' (from a file) or 'human' (annotation)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JudgmentRow(Base):
    """A scorer's verdict on a response: a score, or an explicit unscored reason (never both)."""

    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("response_id", "scorer_id"),
        Index("ix_judgments_scorer", "scorer_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    scorer_id: Mapped[int] = mapped_column(ForeignKey("scorers.id", ondelete="CASCADE"))
    score: Mapped[int | None] = mapped_column(Integer)
    probs: Mapped[list[Any] | None] = mapped_column(JSON)
    raw_output: Mapped[str | None] = mapped_column(Text)
    unscored_reason: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchRow(Base):
    """A provider batch job (OpenAI Batch API format) holding some of a run's requests: answers (`kind`
    'generate') or judge requests of one scorer ('score'). Created before anything is uploaded, so the slots
    it holds are reserved from the start; `collected_at` is set once its output is imported, which hands
    whatever it did not answer back to the pending work."""

    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    scorer_id: Mapped[int | None] = mapped_column(ForeignKey("scorers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(40))
    base_url: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(String(200))
    """Request path inside the batch, e.g. `/v1/chat/completions` (Zhipu: `/v4/chat/completions`)."""
    api_key_env: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(Text)
    local_key: Mapped[str] = mapped_column(String(64), unique=True)
    """Our id for the batch, sent as metadata so a batch created just before a crash is found again."""
    remote_id: Mapped[str | None] = mapped_column(String(200))
    input_file_id: Mapped[str | None] = mapped_column(String(200))
    output_file_id: Mapped[str | None] = mapped_column(String(200))
    error_file_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    """'preparing', 'uploaded', then the provider's status ('validating' ... 'completed', 'expired')."""
    n_requests: Mapped[int] = mapped_column(Integer)
    n_bytes: Mapped[int] = mapped_column(Integer)
    request_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The provider's counts: total, completed, failed."""
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What collecting it did: lines imported, already stored, sent back to pending, tokens in and out."""
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchItemRow(Base):
    """One request line of a batch: the slot it answers (`prompt_row_id`, `sample_index`) for 'generate',
    the response it judges and the judge's request key for 'score' (`sample_index` unused)."""

    __tablename__ = "batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "custom_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    custom_id: Mapped[str] = mapped_column(String(64))
    prompt_row_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id"))
    sample_index: Mapped[int] = mapped_column(Integer, default=0)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    request_key: Mapped[str | None] = mapped_column(Text)


class LeaseRow(Base):
    """Who holds work (`flames.store.holds`): a process, renewing `expires` while it runs, or an open provider
    batch (`batch_id` set, no expiry until it is collected)."""

    __tablename__ = "leases"
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    host: Mapped[str | None] = mapped_column(String(255))
    """The holder's host name, to show."""
    machine: Mapped[str | None] = mapped_column(String(255))
    """Host name and process namespace: a holder on this same machine whose `pid` is gone is dead at once."""
    pid: Mapped[int | None] = mapped_column(Integer)
    expires: Mapped[float | None] = mapped_column(Float)
    """Unix time after which a process's holds may be taken over; NULL for a batch."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HoldRow(Base):
    """One request held by one lease: a run's slot to answer or a response to judge, by its key
    (`flames.store.holds.slot_key`, `judgment_key`); the key's uniqueness is what makes a claim exclusive."""

    __tablename__ = "holds"
    slot: Mapped[str] = mapped_column(String(80), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(ForeignKey("leases.owner", ondelete="CASCADE"), index=True)
