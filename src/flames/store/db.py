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

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from flames.store.errors import StoreError
from flames.urls import masked_url

DEFAULT_URL = "sqlite:///flames.db"
MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0008_leases"
"""The newest revision in migrations/versions. A new revision must update it (a test compares it with the
head Alembic computes from the revision files)."""


def resolve_url(url: str | None = None) -> str:
    """`--db URL`, else $FLAMES_DB, else flames.db in the working directory. A bare path means SQLite."""
    url = url or os.environ.get("FLAMES_DB") or DEFAULT_URL
    return url if "://" in url else f"sqlite:///{url}"


IN_MEMORY = ("sqlite://", "sqlite:///")
"""SQLite URLs without a path: an in-memory database that vanishes with the process (`sqlite:///:memory:` says
so on purpose and is allowed)."""
EXAMPLES = "a SQLite file (`--db flames.db`, `sqlite:////abs/path.db`) or PostgreSQL (`postgresql+psycopg://USER:PASSWORD@HOST/DB`)"


def refuse_in_memory(url: str) -> None:
    """Raise StoreError for a SQLite URL without a path (`sqlite://`, `sqlite:///`): a command that writes to
    one would throw away everything it stored, paid answers included, when it ends."""
    if url.split("?", 1)[0] in IN_MEMORY:
        raise StoreError(
            f"--db {url} is an in-memory SQLite store: everything written to it (paid answers too) is gone when"
            f" the command ends. Give {EXAMPLES}; or write sqlite:///:memory: to mean a throwaway store."
        )


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory ones."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except ArgumentError:
        return None
    return None if not database or database == ":memory:" or database.startswith("file:") else Path(database)


def _driver_message(err: BaseException, url: str) -> str:
    """The first line of a database driver's error, with the URL's password (if any) masked."""
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    password = make_url(url).password
    return line.replace(str(password), "***") if password else line


def open_engine(url: str) -> Engine:
    """The engine of the store at `url`, its schema migrated to the newest revision.

    Raises StoreError, naming the URL (password masked) and the fix, for a URL that cannot be a store: not a
    URL, an unknown kind of database or one whose driver is not installed, a SQLite file in a missing directory
    or that is not a database, a server that refuses the connection.
    """
    shown = masked_url(url)
    path = _sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise StoreError(f"cannot open the store {shown}: no such directory {path.parent}; create it"
                         f" (mkdir -p {path.parent}) or give another --db path")  # fmt: skip
    if path is not None and path.is_dir():
        raise StoreError(f"cannot open the store {shown}: {path} is a directory; give a file in it, e.g."
                         f" --db {path / 'flames.db'}")  # fmt: skip
    try:
        engine = make_engine(url)
    except NoSuchModuleError:
        kind = url.split(":", 1)[0]
        raise StoreError(
            f"cannot open the store {shown}: {kind!r} is not a database SQLAlchemy knows; give {EXAMPLES}"
        ) from None
    except ArgumentError as err:
        raise StoreError(f"cannot open the store {shown}: not a database URL ({err}); give {EXAMPLES}") from None
    except ImportError as err:
        raise StoreError(
            f"cannot open the store {shown}: its database driver is not installed (no module {err.name!r}). For"
            " PostgreSQL: pip install 'flames-eval[postgres]'; for another database, its SQLAlchemy driver."
        ) from None
    try:
        migrate(engine)
    except DBAPIError as err:
        engine.dispose()
        why = _driver_message(err, url)
        if path is not None and "not a database" in why:
            fix = f"{path} is not a SQLite database (a prompts or results file?): --db names the store (flames.db)"
        elif path is not None:
            fix = f"check that {path} can be read and written"
        else:
            fix = "check that the server is running and the URL's host, port, user, password and database"
        raise StoreError(f"cannot open the store {shown}: {why}; {fix}") from None
    return engine


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
        memory = url in (*IN_MEMORY, "sqlite:///:memory:")
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
