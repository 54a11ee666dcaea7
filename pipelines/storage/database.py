"""The catalog database: one SQL database holds the Iceberg catalog and the warehouse's run state.

`FPWH_CATALOG_URL` names it (SQLAlchemy form): `sqlite:///<warehouse>/catalog.db` by default beside a local
warehouse, a `postgresql://...` database when several machines share the warehouse (the Dagster instance's
PostgreSQL does). Everything two runs must agree on goes here, never on a local disk: the Iceberg tables' current
metadata, fetch queues, search cursors, staged and published files, leases, and (with PostgreSQL) the per-key
API budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from pipelines.storage.atomic import DiskFull, is_disk_full

T = TypeVar("T")

_ENGINES: dict[str, sa.Engine] = {}
_LOCK = threading.Lock()
# SQLite serialises writers: a writer waits this long for another's transaction instead of failing at once.
SQLITE_BUSY_TIMEOUT_S = 120


def engine_for(url: str) -> sa.Engine:
    """The process's engine for `url` (one pool per database), SQLite set up for several processes."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _create(url)
        return engine


def driver_url(url: str) -> str:
    """`url` with an explicit driver where it names none: `postgresql://` (and `postgres://`) become
    `postgresql+psycopg2://`.

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which is not a dependency; psycopg2 is (Dagster's
    PostgreSQL storage uses it too). Operators keep writing the URL every tool documents.
    """
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare) :]
    return url


def _create(url: str) -> sa.Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(driver_url(url), pool_pre_ping=True, pool_size=4, max_overflow=8)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's recipe: the `begin` hook below opens transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")  # a deleted row's bytes are zeroed, not left in free space (erasure)
        cursor.close()

    @sa.event.listens_for(engine, "handle_error")
    def _disk_full(context) -> None:
        # SQLite says "database or disk is full" and names no file: say which, and what to free.
        if is_disk_full(context.original_exception):
            raise DiskFull(Path(engine.url.database or ".")) from context.original_exception

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        # Take the write lock when the transaction starts, so two read-then-write transactions never deadlock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def scrub(engine: sa.Engine, tables: Sequence[str] = (), attempts: int = 20) -> bool:
    """Make rows deleted from `tables` unrecoverable from the database's files, as an erasure needs; True if done.

    SQLite zeroes deleted rows (`secure_delete`) but its write-ahead log still holds the pages as they were before:
    a checkpoint that truncates the log drops them (retried while another connection is reading). PostgreSQL keeps
    dead row versions until VACUUM reclaims them: the tables are vacuumed (its own WAL archive is the DBA's).
    """
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            for _ in range(attempts):
                busy = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    return True
                time.sleep(0.05)
            return False
        finally:
            raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
        for table in tables:
            con.exec_driver_sql(f'VACUUM "{table}"')
    return True


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"


def dispose(url: str) -> None:
    """Close the process's connections to `url` (before a database is dropped, or a process forks)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def created_once(create: Callable[[], T], attempts: int = 4) -> T:
    """`create()` (tables, a namespace: check, then create), retried when another process created the same
    thing between its check and its insert.

    Two machines starting at once on a fresh PostgreSQL catalog both see nothing and both create: the loser gets
    a unique violation (IntegrityError) or a duplicate table (ProgrammingError); two processes on a fresh SQLite
    catalog get "table ... already exists" (OperationalError). On retry the check finds the winner's work, so the
    outcome is the same whoever was first.
    """
    for attempt in range(attempts):
        try:
            return create()
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError) as error:
            lost_the_race = not isinstance(error, sa.exc.OperationalError) or "already exists" in str(error.orig)
            if not lost_the_race or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
