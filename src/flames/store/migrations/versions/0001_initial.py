"""Initial schema: prompt sets, prompts, runs, responses, scorers, judgments.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prompt_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("n_prompts", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("prompt_set_id", sa.Integer, sa.ForeignKey("prompt_sets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("prompt_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("dimension", sa.String(40), nullable=False),
        sa.Column("subcomponent", sa.String(80), nullable=False),
        sa.Column("attack_method", sa.String(200)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.UniqueConstraint("prompt_set_id", "prompt_id"),
    )
    op.create_index("ix_prompts_prompt_set_id", "prompts", ["prompt_set_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("prompt_set_id", sa.Integer, sa.ForeignKey("prompt_sets.id"), nullable=False),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("backend", sa.String(40), nullable=False),
        sa.Column("resolved_model", sa.Text),
        sa.Column("generation_config", sa.JSON, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("tool_version", sa.String(40), nullable=False),
        sa.Column("git_commit", sa.String(40)),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_runs_prompt_set_id", "runs", ["prompt_set_id"])
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("prompt_row_id", sa.Integer, sa.ForeignKey("prompts.id"), nullable=False),
        sa.Column("sample_index", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("finish_reason", sa.String(40)),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("latency_s", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("run_id", "prompt_row_id", "sample_index"),
    )
    op.create_index("ix_responses_run_id", "responses", ["run_id"])
    op.create_table(
        "scorers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("name", "config_hash"),
    )
    op.create_table(
        "judgments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("response_id", sa.Integer, sa.ForeignKey("responses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scorer_id", sa.Integer, sa.ForeignKey("scorers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("score", sa.Integer),
        sa.Column("probs", sa.JSON),
        sa.Column("raw_output", sa.Text),
        sa.Column("unscored_reason", sa.Text),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("response_id", "scorer_id"),
    )
    op.create_index("ix_judgments_response_id", "judgments", ["response_id"])
    op.create_index("ix_judgments_scorer", "judgments", ["scorer_id"])


def downgrade() -> None:
    for table in ("judgments", "scorers", "responses", "runs", "prompts", "prompt_sets"):
        op.drop_table(table)
