"""Human labels are never deleted as a side effect: deleting a run, or a response, that an annotation project
uses is refused by the database (ON DELETE RESTRICT on ann_projects.run_id and ann_items.response_id, which
were CASCADE). `flames runs delete` names the projects and deletes them only when told to.

PostgreSQL changes the two constraints in place. SQLite cannot alter a constraint, so the three annotation
tables that hang off runs (projects, items, labels) are rebuilt: new tables are created pointing at each
other, filled, the old ones dropped leaf first (nothing points at them any more, so no cascade fires), and
the new ones renamed (SQLite rewrites the references to a renamed table). Ids and rows are unchanged.

Revision ID: 0007_keep_labels
Revises: 0003_outcomes
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0007_keep_labels"
down_revision = "0003_outcomes"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
GUARDED = (("ann_projects", "run_id", "runs"), ("ann_items", "response_id", "responses"))
"""(table, column, parent): the references to the run store that this revision makes RESTRICT."""
PARENT, ITEMS = "ann_projects_new", "ann_items_new"
"""While SQLite rebuilds: the copies that items and labels point at (renamed to their final names at the end)."""
INDEXES = (
    ("ix_ann_projects_run_id", "ann_projects", ["run_id"]),
    ("ix_ann_items_project_status", "ann_items", ["project_id", "status"]),
    ("ix_ann_labels_item_id", "ann_labels", ["item_id"]),
    ("ix_ann_labels_user_status", "ann_labels", ["user_id", "status"]),
)


def upgrade() -> None:
    _on_delete("RESTRICT")


def downgrade() -> None:
    _on_delete("CASCADE")


def _on_delete(action: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _rebuild_sqlite(action)
        return
    for table, column, parent in GUARDED:
        fk = next(f for f in sa.inspect(conn).get_foreign_keys(table) if f["constrained_columns"] == [column])
        name = fk["name"] or f"{table}_{column}_fkey"  # PostgreSQL names every constraint
        op.drop_constraint(name, table, type_="foreignkey")
        op.create_foreign_key(name, table, parent, [column], ["id"], ondelete=action)


def _tables(action: str) -> list[tuple[str, Callable[[str], None]]]:
    """(name, create(as_name)) for projects, items and labels, parents first, as revision 0002 made them but
    with `action` on the references to runs and responses; each points at the others' `*_new` copies."""

    def projects(name: str) -> None:
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(200), nullable=False, unique=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete=action), nullable=False),
            sa.Column("per_item", sa.Integer, nullable=False),
            sa.Column("created_at", TS, nullable=False),
        )

    def items(name: str) -> None:
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("project_id", sa.Integer, sa.ForeignKey(f"{PARENT}.id", ondelete="CASCADE"), nullable=False),
            sa.Column("response_id", sa.Integer, sa.ForeignKey("responses.id", ondelete=action), nullable=False),
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

    def labels(name: str) -> None:
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("item_id", sa.Integer, sa.ForeignKey(f"{ITEMS}.id", ondelete="CASCADE"), nullable=False),
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

    return [("ann_projects", projects), ("ann_items", items), ("ann_labels", labels)]


def _rebuild_sqlite(action: str) -> None:
    tables = _tables(action)
    for name, create in tables:  # parents first: each copy's rows find their parent copy
        create(f"{name}_new")
        columns = ", ".join(c["name"] for c in sa.inspect(op.get_bind()).get_columns(name))
        op.execute(f"INSERT INTO {name}_new ({columns}) SELECT {columns} FROM {name}")
    for name, _ in reversed(tables):  # leaf first: a dropped table's rows have no children left to cascade to
        op.drop_table(name)
    for name, _ in tables:
        op.rename_table(f"{name}_new", name)
    for index, table, indexed in INDEXES:
        op.create_index(index, table, indexed)
