"""Work leases: `leases` (a process or an open provider batch) and the requests each holds (`holds`).

Open batches held their requests through `batch_items` before; each becomes a lease holding them, so one
mechanism keeps batches, concurrent processes, shards and Ray drivers from paying for a request twice.

Revision ID: 0008_leases
Revises: 0007_keep_labels
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_leases"
down_revision = "0007_keep_labels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id", ondelete="CASCADE")),
        sa.Column("host", sa.String(255)),
        sa.Column("machine", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("expires", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_leases_batch_id", "leases", ["batch_id"])
    op.create_table(
        "holds",
        sa.Column("slot", sa.String(80), primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner", sa.String(64), sa.ForeignKey("leases.owner", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_holds_run_id", "holds", ["run_id"])
    op.create_index("ix_holds_owner", "holds", ["owner"])
    conn = op.get_bind()
    leases, holds = sa.table("leases", *(sa.column(c) for c in ("owner", "batch_id", "created_at"))), sa.table(
        "holds", sa.column("slot"), sa.column("run_id"), sa.column("owner")
    )
    open_batches = conn.execute(
        sa.text("SELECT id, run_id, kind, scorer_id, local_key FROM batches WHERE collected_at IS NULL ORDER BY id")
    ).all()
    taken: set[str] = set()
    for batch_id, run_id, kind, scorer_id, local_key in open_batches:
        owner = f"batch-{local_key}"  # as flames.store.batches names a batch's lease
        conn.execute(sa.insert(leases).values(owner=owner, batch_id=batch_id, created_at=sa.func.now()))
        items = conn.execute(
            sa.text("SELECT prompt_row_id, sample_index, response_id FROM batch_items WHERE batch_id = :b"),
            {"b": batch_id},
        ).all()
        # the keys of flames.store.holds.slot_key and judgment_key, as they were when this revision was written
        keys = [f"g:{run_id}:{row}:{k}" if kind == "generate" else f"s:{scorer_id}:{rid}" for row, k, rid in items]
        rows = [{"slot": key, "run_id": run_id, "owner": owner} for key in keys if key not in taken]
        taken.update(keys)
        if rows:
            conn.execute(sa.insert(holds), rows)


def downgrade() -> None:
    op.drop_table("holds")
    op.drop_table("leases")
