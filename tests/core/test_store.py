"""The run store on SQLite and PostgreSQL: runs, resume, failures, judgments, deletion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect

from flames.prompts import load_prompt_set
from flames.records import Completion, Judgment
from flames.store import RunSpec, Store, StoreError
from flames.store.db import HEAD_REVISION, MIGRATIONS, make_engine, schema_revision


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def spec(name: str = "r1", temperature: float = 0.0, samples: int = 1) -> RunSpec:
    return RunSpec(name, "openai:m", "openai", {"temperature": temperature}, samples=samples)


def test_migrations_create_every_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"prompt_sets", "prompts", "runs", "responses", "scorers", "judgments", "alembic_version"} <= tables
    Store(store.url)  # reopening an up-to-date store is a no-op, not an error


def test_head_revision_constant_is_alembics_head() -> None:
    """A new migration must update HEAD_REVISION, or stores at the old head would never be upgraded."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_store_at_head_opens_without_alembic_and_older_ones_are_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    Store(url).close()
    assert schema_revision(make_engine(url)) == HEAD_REVISION
    code = f"import sys; from flames.store import Store; Store({url!r}); print('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    engine = make_engine(url)
    with engine.begin() as conn:  # as if written by an older version: revision 0001, no later table or column
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        first = {"prompt_sets", "prompts", "runs", "responses", "scorers", "judgments", "alembic_version"}
        later = set(inspect(conn).get_table_names()) - first
        assert {"ann_items", "batches"} <= later
        tables = MetaData()
        tables.reflect(conn, only=sorted(later))
        for table in (t for t in reversed(tables.sorted_tables) if t.name in later):  # children first
            table.drop(conn)
        conn.exec_driver_sql("ALTER TABLE responses DROP COLUMN reasoning")  # added by 0003_outcomes
    Store(url)
    assert schema_revision(engine) == HEAD_REVISION and set(later) <= set(inspect(engine).get_table_names())


def test_run_resume_and_config_mismatch(store: Store, flames_1k: Path) -> None:
    ps = load_prompt_set(flames_1k).limit(20)
    run = store.open_run(spec(samples=2), ps)
    assert run.samples == 2 and run.data_sha256 == ps.sha256 and run.tool_version
    slots = store.pending(run)
    assert len(slots) == 40
    for slot in slots[:15]:
        store.save_response(run.id, slot, Completion(f"answer {slot.prompt.id} {slot.sample_index}", "stop", 5, 7, 0.1))
    again = store.open_run(spec(samples=2), ps)  # same config: resume
    assert again.id == run.id
    assert len(store.pending(again)) == 25
    with pytest.raises(StoreError, match="different model or generation config"):
        store.open_run(spec(temperature=0.7, samples=2), ps)
    other = load_prompt_set(flames_1k).limit(5)
    other = type(other)(other.name, "0" * 64, other.source, other.prompts)
    with pytest.raises(StoreError, match="different prompt set"):
        store.open_run(spec(samples=2), other)


def test_failure_never_becomes_a_response_and_ok_is_final(store: Store, flames_1k: Path) -> None:
    run = store.open_run(spec(), load_prompt_set(flames_1k).limit(3))
    a, b, _ = store.pending(run)
    store.save_failure(run.id, a, "HTTP 500", attempts=3)
    assert [r.prompt.id for r in store.responses(run)] == []
    assert store.failures(run)[0][2] == "HTTP 500"
    assert a in store.pending(run)  # failed slots are retried
    store.save_response(run.id, a, Completion("first"), attempts=4)
    store.save_response(run.id, a, Completion("second"))  # an ok slot keeps its first answer
    store.save_failure(run.id, a, "late error", attempts=1)  # and is never downgraded
    store.save_response(run.id, b, Completion("b"))
    texts = {r.prompt.id: r.text for r in store.responses(run)}
    assert texts == {a.prompt.id: "first", b.prompt.id: "b"}
    c = store.counts(run)
    assert (c.ok, c.failed, c.expected) == (2, 0, 3)


def test_judgments_per_scorer_side_by_side(store: Store, flames_1k: Path) -> None:
    run = store.open_run(spec(), load_prompt_set(flames_1k).limit(4))
    for slot in store.pending(run):
        store.save_response(run.id, slot, Completion("x"))
    responses = store.responses(run)
    s1 = store.scorer("flames", {"mode": "improved"})
    s2 = store.scorer("flames", {"mode": "faithful"})
    assert s1.id != s2.id and store.scorer("flames", {"mode": "improved"}).id == s1.id
    for r in responses[:3]:
        store.save_judgment(r.id, s1, Judgment(str(r.id), r.prompt.dimension, 3, (0.9, 0.05, 0.05)))
    first = responses[0]
    store.save_judgment(first.id, s2, Judgment(str(first.id), first.prompt.dimension, None, unscored_reason="too long"))
    assert [s.id for s in store.scorers_for(run)] == [s1.id, s2.id]
    assert set(store.judgments(run, s1)) == {r.id for r in responses[:3]}
    records = store.scored_records(run, s1)
    assert [r.score for r in records] == [3, 3, 3, None]  # the unjudged one is unscored, not dropped
    j = store.judgments(run, s2)[first.id]
    assert j.score is None and j.unscored_reason == "too long"
    assert store.resolve_scorer(run, f"flames@{s1.config_hash[:8]}").id == s1.id
    with pytest.raises(StoreError, match="was not scored by"):
        store.resolve_scorer(run, "judge:x")


def test_delete_run_removes_its_rows_only(store: Store, flames_1k: Path) -> None:
    ps = load_prompt_set(flames_1k).limit(2)
    keep, drop = store.open_run(spec("keep"), ps), store.open_run(spec("drop"), ps)
    sc = store.scorer("s", {})
    for run in (keep, drop):
        for slot in store.pending(run):
            store.save_response(run.id, slot, Completion("x"))
        for r in store.responses(run):
            store.save_judgment(r.id, sc, Judgment(str(r.id), r.prompt.dimension, 3))
    store.delete_run("drop")
    assert [r.name for r in store.list_runs()] == ["keep"]
    assert len(store.scored_records(keep, sc)) == 2
    with pytest.raises(StoreError, match="no run named 'drop'"):
        store.get_run("drop")


@pytest.mark.parametrize(
    ("name", "why"),
    [("a\u202eb", "U\\+202E RIGHT-TO-LEFT OVERRIDE"), ("评测\x1b[31m", "control character at position 3: U\\+001B"),
     ("a\u200bb", "U\\+200B ZERO WIDTH SPACE"), ("a\nb", "U\\+000A"), (" a", "begins or ends with a space"),
     ("", "cannot be empty"), ("x" * 201, "201 characters; at most 200")],
)  # fmt: skip
def test_new_run_names_refuse_hidden_characters(store: Store, flames_1k: Path, name: str, why: str) -> None:
    ps = load_prompt_set(flames_1k).limit(1)
    with pytest.raises(StoreError, match=why):
        store.open_run(spec(name), ps)
    assert store.list_runs() == []
    assert store.open_run(spec("评测 v2 (temp=0.7) [base]"), ps).name == "评测 v2 (temp=0.7) [base]"


def test_concurrent_get_or_create_returns_one_row(store: Store, flames_1k: Path) -> None:
    """Threads (e.g. web workers) creating the same scorer at once all get the one row, never an error."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    names = [f"human:p{i}" for i in range(15)]
    barrier = Barrier(6)

    def create(name: str) -> int:
        barrier.wait()
        return store.scorer(name, {"project": name}, kind="human").id

    with ThreadPoolExecutor(6) as pool:
        for name in names:
            ids = set(pool.map(create, [name] * 6))
            assert len(ids) == 1
