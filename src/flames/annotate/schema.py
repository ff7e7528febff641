"""Tables of the annotation workflow, on the run store's declarative `Base`.

An item is one stored response put into a project; a label row is both an assignment (a slot an annotator
claimed) and that annotator's verdict. Uniqueness on (item, user) and (item, slot) is what guarantees
"N distinct annotators per item" even when many people ask for work at once; `version` is bumped as the
first statement of every write transaction on an item, which serialises writers on that item on both
SQLite (database write lock) and PostgreSQL (row lock).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flames.store.schema import Base, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    ANNOTATOR = "annotator"
    ADJUDICATOR = "adjudicator"
    AUTHOR = "author"
    """Prompt design: writes prompts and tries them on the panel (`flames.design`)."""
    REVIEWER = "reviewer"
    """Prompt design: an author who also reviews other people's prompts."""


class ItemStatus(StrEnum):
    LABELING = "labeling"
    ADJUDICATION = "adjudication"
    DONE = "done"


class Provenance(StrEnum):
    UNANIMOUS = "unanimous"
    ADJUDICATED = "adjudicated"
    UNRESOLVED = "unresolved"


class LabelStatus(StrEnum):
    PENDING = "pending"
    LABELED = "labeled"
    FLAGGED = "flagged"
    SKIPPED = "skipped"


class UserRow(Base):
    __tablename__ = "ann_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped on logout and password change: every session cookie carrying an older value stops working."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProjectRow(Base):
    __tablename__ = "ann_projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"), index=True)
    """RESTRICT (revision 0007_keep_labels): a run cannot be deleted while a project uses it."""
    per_item: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ItemRow(Base):
    __tablename__ = "ann_items"
    __table_args__ = (
        UniqueConstraint("project_id", "response_id"),
        Index("ix_ann_items_project_status", "project_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("ann_projects.id", ondelete="CASCADE"))
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.LABELING.value)
    final_score: Mapped[int | None] = mapped_column(Integer)
    provenance: Mapped[str | None] = mapped_column(String(20))
    final_note: Mapped[str | None] = mapped_column(Text)
    adjudicator_id: Mapped[int | None] = mapped_column(ForeignKey("ann_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=0)


class LabelRow(Base):
    __tablename__ = "ann_labels"
    __table_args__ = (
        UniqueConstraint("item_id", "user_id"),
        UniqueConstraint("item_id", "slot"),
        Index("ix_ann_labels_user_status", "user_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("ann_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ann_users.id"))
    slot: Mapped[int | None] = mapped_column(Integer)
    """0..N-1 while the label occupies one of the item's N places; NULL once skipped (frees the place)."""
    status: Mapped[str] = mapped_column(String(20), default=LabelStatus.PENDING.value)
    score: Mapped[int | None] = mapped_column(Integer)
    explanation: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    """Why the annotator skipped or flagged the item."""
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SettingRow(Base):
    """Server settings that must survive restarts and be shared by workers (the session signing key)."""

    __tablename__ = "ann_settings"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
