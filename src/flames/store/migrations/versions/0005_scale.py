"""Provider batch jobs and the requests they hold (`flames generate --batch`, `flames score --batch`).

Revision ID: 0005_scale
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_scale"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scorer_id", sa.Integer, sa.ForeignKey("scorers.id", ondelete="CASCADE")),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("api_key_env", sa.String(100), nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("local_key", sa.String(64), nullable=False, unique=True),
        sa.Column("remote_id", sa.String(200)),
        sa.Column("input_file_id", sa.String(200)),
        sa.Column("output_file_id", sa.String(200)),
        sa.Column("error_file_id", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("n_requests", sa.Integer, nullable=False),
        sa.Column("n_bytes", sa.Integer, nullable=False),
        sa.Column("request_counts", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("collected_at", TS),
    )
    op.create_index("ix_batches_run_id", "batches", ["run_id"])
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("custom_id", sa.String(64), nullable=False),
        sa.Column("prompt_row_id", sa.Integer, sa.ForeignKey("prompts.id")),
        sa.Column("sample_index", sa.Integer, nullable=False),
        sa.Column("response_id", sa.Integer, sa.ForeignKey("responses.id", ondelete="CASCADE")),
        sa.Column("request_key", sa.Text),
        sa.UniqueConstraint("batch_id", "custom_id"),
    )
    op.create_index("ix_batch_items_batch_id", "batch_items", ["batch_id"])


def downgrade() -> None:
    op.drop_table("batch_items")
    op.drop_table("batches")
