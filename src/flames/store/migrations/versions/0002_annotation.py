"""Annotation tables: users, projects, items, labels, settings.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ann_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("session_version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "ann_projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("per_item", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_ann_projects_run_id", "ann_projects", ["run_id"])
    op.create_table(
        "ann_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("ann_projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("response_id", sa.Integer, sa.ForeignKey("responses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("final_score", sa.Integer),
        sa.Column("provenance", sa.String(20)),
        sa.Column("final_note", sa.Text),
        sa.Column("adjudicator_id", sa.Integer, sa.ForeignKey("ann_users.id")),
        sa.Column("decided_at", TS),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("project_id", "response_id"),
    )
    op.create_index("ix_ann_items_project_status", "ann_items", ["project_id", "status"])
    op.create_table(
        "ann_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("ann_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("ann_users.id"), nullable=False),
        sa.Column("slot", sa.Integer),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("score", sa.Integer),
        sa.Column("explanation", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("assigned_at", TS, nullable=False),
        sa.Column("submitted_at", TS),
        sa.UniqueConstraint("item_id", "user_id"),
        sa.UniqueConstraint("item_id", "slot"),
    )
    op.create_index("ix_ann_labels_item_id", "ann_labels", ["item_id"])
    op.create_index("ix_ann_labels_user_status", "ann_labels", ["user_id", "status"])
    op.create_table(
        "ann_settings",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("ann_settings", "ann_labels", "ann_items", "ann_projects", "ann_users"):
        op.drop_table(table)
