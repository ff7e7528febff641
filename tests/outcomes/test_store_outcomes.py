"""The store keeps blocked and no-answer slots final (unless the user asks), and revision 0003 brings rows
written by earlier versions in line (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select, update

from flames.prompts import load_prompt_set
from flames.records import Completion
from flames.store import RunSpec, Store
from flames.store.api import RESPONSES
from flames.store.db import MIGRATIONS, migrate


def _run(store: Store, flames_1k: Path, n: int = 4):  # type: ignore[no-untyped-def]
    run = store.open_run(RunSpec("r", "openai:m", "openai", {}), load_prompt_set(flames_1k).limit(n))
    return run, store.pending(run)


def test_final_outcomes_are_not_pending_unless_asked_and_a_failure_never_replaces_them(
    store_url: str, flames_1k: Path
) -> None:
    store = Store(store_url)
    run, (a, b, c, d) = _run(store, flames_1k)
    store.save_response(run.id, a, Completion("答", "stop", reasoning="想"))
    store.save_response(run.id, b, Completion("", outcome="blocked", detail="blocked by X 1: no"))
    store.save_response(run.id, c, Completion("", "length", outcome="no_answer", detail="budget"))
    store.save_failure(run.id, d, "HTTP 500", 7)
    assert store.pending(run) == [d]
    assert store.pending(run, retry=("blocked",)) == [b, d]
    assert store.pending(run, retry=("blocked", "no_answer")) == [b, c, d]
    store.save_failure(run.id, b, "HTTP 503 while retrying", 7)  # a retry that failed in transit
    counts = store.counts(run)
    assert (counts.ok, counts.blocked, counts.no_answer, counts.failed, counts.final) == (1, 1, 1, 1, 3)
    rows = {r.prompt.id: r for r in store.responses(run, withheld=True)}
    assert rows[b.prompt.id].detail == "blocked by X 1: no"  # the final outcome kept its reason
    assert rows[a.prompt.id].reasoning == "想" and [r.prompt.id for r in store.responses(run)] == [a.prompt.id]
    store.save_response(run.id, b, Completion("后来回答了", "stop"))  # --retry-blocked, now answered
    store.save_response(run.id, a, Completion("", outcome="blocked"))  # an answer is never replaced
    texts = {r.prompt.id: (r.outcome, r.text) for r in store.responses(run, withheld=True)}
    assert texts[a.prompt.id] == ("answered", "答") and texts[b.prompt.id] == ("answered", "后来回答了")


def _alembic(engine: Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def test_revision_0003_reclassifies_rows_of_earlier_versions_and_downgrades(store_url: str, flames_1k: Path) -> None:
    store = Store(store_url)
    run, slots = _run(store, flames_1k, 5)
    for slot in slots:
        store.save_response(run.id, slot, Completion("回答", "stop"))
    ids = {r.prompt.id: r.id for r in store.responses(run)}
    a, b, c, d, e = (ids[s.prompt.id] for s in slots)
    _alembic(store.engine, "downgrade", "0004_design")  # the revision before 0003_outcomes
    old = RESPONSES.c
    with store.engine.begin() as conn:  # what earlier versions stored for these replies
        conn.execute(update(RESPONSES).where(old.id == a).values(meta={"model": "m", "reasoning": "想过了"}))
        conn.execute(update(RESPONSES).where(old.id == b).values(text="", finish_reason="content_filter"))
        conn.execute(update(RESPONSES).where(old.id == c).values(text="", finish_reason="sensitive"))
        conn.execute(update(RESPONSES).where(old.id == d).values(text="", finish_reason="length",
                                                                  meta={"reasoning": "没想完"}))  # fmt: skip
    migrate(store.engine)
    rows = {r.id: r for r in store.responses(run, withheld=True)}
    assert (rows[a].outcome, rows[a].text, rows[a].reasoning) == ("answered", "回答", "想过了")
    assert rows[a].meta == {"model": "m"}
    assert [rows[i].outcome for i in (b, c, d, e)] == ["blocked", "blocked", "no_answer", "answered"]
    assert rows[d].reasoning == "没想完" and "content filter" in (rows[b].detail or "")
    assert store.counts(run).final == 5
    _alembic(store.engine, "downgrade", "0004_design")  # the revision before 0003_outcomes
    with store.engine.connect() as conn:
        status = dict(conn.execute(select(old.id, old.status)).all())
        meta = dict(conn.execute(select(old.id, old.meta)).all())
    assert [status[i] for i in (a, b, c, d, e)] == ["ok", "failed", "failed", "failed", "ok"]  # asked again there
    assert meta[a]["reasoning"] == "想过了"
