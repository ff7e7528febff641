"""Engine creation and schema migration for the run store.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so a reader never blocks the writer and
a killed process leaves every committed row intact. Any other SQLAlchemy URL (PostgreSQL for teams) works
unchanged. The schema is owned by Alembic: opening a store upgrades it to the newest revision. A store
already there is recognised by reading its `alembic_version` row, without loading Alembic (a tenth of a
second of every command's start-up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///flames.db"
MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0007_keep_labels"
"""The newest revision in migrations/versions. A new revision must update it (a test compares it with the
head Alembic computes from the revision files)."""


def resolve_url(url: str | None = None) -> str:
    """`--db URL`, else $FLAMES_DB, else flames.db in the working directory. A bare path means SQLite."""
    url = url or os.environ.get("FLAMES_DB") or DEFAULT_URL
    return url if "://" in url else f"sqlite:///{url}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # An in-memory database exists per connection: share one so the whole store sees it.
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


MIGRATION_LOCK = 0x666C616D6573
"""PostgreSQL advisory lock key held while migrating ("flames" in ASCII)."""


def schema_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None for a database without one (new, or not a store)."""
    with engine.connect() as conn:
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except DBAPIError:  # no such table
            return None
    return str(rows[0][0]) if len(rows) == 1 else None


def migrate(engine: Engine) -> None:
    """Upgrade the database behind `engine` to the newest Alembic revision (nothing to load when it is there).

    Processes that open a new store at the same moment (the shards of a job array) take turns: the first
    holds a lock (SQLite: a write transaction; PostgreSQL: a transaction-scoped advisory lock) while it
    creates the schema, the others then find it up to date.
    """
    if schema_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
