"""Final outcomes and reasoning traces: responses.status gains 'blocked' and 'no_answer'; responses.reasoning.

Existing rows are brought in line with what collection now stores: a reasoning trace kept in `meta.reasoning`
moves to the new column, and an 'ok' row without text (a content filter's empty reply, or a budget spent on
thinking) becomes 'blocked' or 'no_answer', so it is counted apart instead of scored as an answer.

Revision ID: 0003_outcomes
Revises: 0004_design
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003_outcomes"
down_revision = "0004_design"
branch_labels = None
depends_on = None

BLOCKING_FINISH_REASONS = ("content_filter", "sensitive")
RESPONSES = sa.table(
    "responses",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("text", sa.Text),
    sa.column("finish_reason", sa.String),
    sa.column("error", sa.Text),
    sa.column("meta", sa.JSON),
    sa.column("reasoning", sa.Text),
)


def _classify(text: str | None, finish: str | None) -> tuple[str, str] | None:
    """(status, error) for a stored 'ok' row that holds no answer; None when it holds one."""
    if text and not text.isspace():
        return None
    if finish in BLOCKING_FINISH_REASONS:
        return "blocked", f"withheld by the provider's content filter (finish_reason {finish!r}, no text)"
    if finish == "length":
        return "no_answer", "the token budget ran out before any answer text (finish_reason 'length')"
    return "no_answer", "the model returned an empty answer"


def upgrade() -> None:
    op.add_column("responses", sa.Column("reasoning", sa.Text, nullable=True))
    conn = op.get_bind()
    r = RESPONSES.c
    candidates = conn.execute(
        sa.select(r.id, r.text, r.finish_reason, r.meta).where(
            r.status == "ok",
            sa.or_(r.text.is_(None), sa.func.length(r.text) < 16, sa.cast(r.meta, sa.Text).like('%"reasoning"%')),
        )
    ).all()
    for row_id, text, finish, meta in candidates:
        meta = dict(meta or {})
        trace = meta.pop("reasoning", None)
        values: dict[str, Any] = {"meta": meta, "reasoning": trace} if trace is not None else {}
        final = _classify(text, finish)
        if final is not None:
            values |= {"status": final[0], "error": final[1], "text": None}
        if values:
            conn.execute(sa.update(RESPONSES).where(r.id == row_id).values(**values))


def downgrade() -> None:
    conn = op.get_bind()
    r = RESPONSES.c
    for row_id, meta, trace in conn.execute(sa.select(r.id, r.meta, r.reasoning).where(r.reasoning.is_not(None))):
        conn.execute(sa.update(RESPONSES).where(r.id == row_id).values(meta={**(meta or {}), "reasoning": trace}))
    # before this revision only 'failed' rows were not final: they are asked again, as they would have been
    conn.execute(sa.update(RESPONSES).where(r.status.in_(("blocked", "no_answer"))).values(status="failed"))
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("reasoning")
