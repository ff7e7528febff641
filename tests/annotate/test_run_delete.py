"""Human labels are never deleted as a side effect of deleting a run: `flames runs delete` refuses while an
annotation project uses the run (naming it and its label counts), the database itself refuses (ON DELETE
RESTRICT, revision 0007_keep_labels), and --delete-annotations deletes exactly the projects of that run.
On SQLite and PostgreSQL; the revision's upgrade and downgrade keep every row."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from annotate_helpers import make_run
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from flames.annotate.errors import NotFound
from flames.annotate.projects import Project, get_project, import_run
from flames.annotate.schema import ItemRow, LabelRow, ProjectRow
from flames.annotate.workflow import adjudicate, next_adjudication, next_assignment, submit
from flames.cli import app
from flames.store import RunInfo, Store, StoreError
from flames.store.db import HEAD_REVISION, MIGRATIONS, schema_revision

TABLES = (ProjectRow, ItemRow, LabelRow)


def label_everything(store: Store, project: Project, users: dict[str, int]) -> None:
    """alice says 3 to everything, bob 3 to all but the first two items (1): those go to adjudication, and
    judy decides one of them."""
    for who in ("alice", "bob"):
        n = 0
        while (label_id := next_assignment(store, project, users[who])) is not None:
            submit(store, project, label_id, users[who], 1 if who == "bob" and n < 2 else 3, None)
            n += 1
    item_id = next_adjudication(store, project, users["judy"])
    assert item_id is not None
    adjudicate(store, project, item_id, users["judy"], 3, "a refusal")


def counts(store: Store) -> tuple[int, ...]:
    with store.session() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES)


def flames(*args: str, input: str | None = None) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": "200"})
    return done.exit_code, done.output


@pytest.fixture
def labelled(store: Store, project: Project, users: dict[str, int]) -> Project:
    label_everything(store, project, users)
    return project


def test_delete_is_refused_and_names_the_projects_and_their_labels(
    store: Store, run: RunInfo, labelled: Project
) -> None:
    before = counts(store)
    assert before == (1, 10, 20)
    code, out = flames("runs", "delete", run.name, "--yes", "--db", store.url)
    assert code == 2
    flat = " ".join(out.split())
    assert "run 'demo' was not deleted: it is used by" in flat
    assert "annotation project 'p1': 10 items, 20 human labels, 1 adjudicated" in flat
    assert "`flames annotate export --project p1 -o p1.jsonl`" in flat
    assert "`flames runs delete demo --delete-annotations`" in flat
    assert counts(store) == before and get_project(store, "p1").run_name == "demo"
    # the database refuses too, whoever asks: nothing of the run goes
    with pytest.raises(StoreError, match="annotation projects"):
        store.delete_run(run.name)
    assert counts(store) == before and len(store.responses(store.get_run(run.name))) == 10


def test_delete_annotations_lists_everything_and_deletes_only_that_run(
    store: Store, run: RunInfo, labelled: Project
) -> None:
    other = make_run(store, "other")
    kept = import_run(store, other, "p2", per_item=1).project
    code, out = flames("runs", "delete", run.name, "--delete-annotations", "--db", store.url, input="n\n")
    assert code == 1 and "Aborted" in out  # answering no keeps everything
    flat = " ".join(out.split())
    listed = ("- 10 stored response(s) of run 'demo'", "- 9 judgments (9 by human:p1)",
              "- annotation project 'p1': 10 items, 20 human labels, 1 adjudicated", "delete all of this?")
    assert all(line in flat for line in listed), flat
    assert counts(store) == (2, 20, 20)
    code, out = flames("runs", "delete", run.name, "--delete-annotations", "--db", store.url, input="y\n")
    assert code == 0 and "deleted run 'demo'" in out
    assert counts(store) == (1, 10, 0)
    with pytest.raises(NotFound):
        get_project(store, "p1")
    assert get_project(store, "p2") == kept and [r.name for r in store.list_runs()] == ["other"]


def test_the_revision_keeps_every_row_both_ways(store: Store, labelled: Project) -> None:
    """Downgrade to CASCADE and upgrade back to RESTRICT on a store with labels: no row is lost (SQLite rebuilds
    the three tables; a cascade firing while it does would empty them)."""

    def on_delete() -> set[str]:
        found = inspect(store.engine)
        guarded = (("ann_projects", "run_id"), ("ann_items", "response_id"))
        fks = [fk for t, c in guarded for fk in found.get_foreign_keys(t) if fk["constrained_columns"] == [c]]
        return {fk["options"].get("ondelete", "").upper() for fk in fks}

    before = counts(store)
    assert on_delete() == {"RESTRICT"}
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003_outcomes")
    assert schema_revision(store.engine) == "0003_outcomes" and counts(store) == before
    assert on_delete() == {"CASCADE"}
    Store(store.url).close()  # opening the store upgrades it
    assert schema_revision(store.engine) == HEAD_REVISION and counts(store) == before
    assert on_delete() == {"RESTRICT"}
    with pytest.raises(StoreError, match="annotation projects"):
        store.delete_run("demo")
    with store.session() as s:  # the labels still point at their items and the items at their project
        joined = s.scalar(select(func.count()).select_from(LabelRow).join(ItemRow).join(ProjectRow))
    assert joined == before[2]
