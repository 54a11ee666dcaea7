"""Corrupt files at rest: found by their Parquet footer, named, moved aside, and their day marked for rebuild.

Every file is written whole (`atomic`, `files`), so a corrupt file comes from outside the pipeline: a disk or
filesystem fault, a copy cut short, a hand edit. Unhandled, one truncated lake file breaks every query on its
table (DuckDB reads every file's footer) and blocks every publish, and a truncated bronze part fails every read of
its day with a message that names no file. So:
- a file whose footer does not parse (`footer_problem`: the magic bytes, the footer length, the Thrift metadata)
  is moved to `corrupt/<its path>` below the warehouse root (`set_aside`), where an operator can inspect or delete
  it, and logged with its path and the reason in one line;
- its (table, day) is recorded in the catalog database (`RebuildMarks`), so the day's next build replaces it:
  a silver table or feed from bronze (the retry pass rebuilds marked days itself), a log table (`app_requests`,
  `log_rejects`) by a run of the day, a bronze part by fetching again what it held (its IDs are open again);
- the rest of the warehouse stays queryable and publishable: the file leaves the publication, so the views no
  longer name it.
The check runs where a corrupt file shows: when a bronze part is opened, and when building the views fails.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from pipelines.state import REBUILD, ensure_schema
from pipelines.storage.files import FileStore

CORRUPT_DIR = "corrupt"
MISSING = "the file is missing"
BRONZE = "bronze"  # the table name a corrupt bronze part is marked under
LOG = logging.getLogger("pipelines.storage")


@dataclass(frozen=True)
class CorruptFile:
    """A corrupt file set aside: where it was, where it is now, which table and day it held, and why."""

    path: str
    moved_to: str
    table: str
    day: date
    reason: str

    def describe(self) -> str:
        return (
            f"corrupt file {self.path} ({self.table}, {self.day}): {self.reason}; moved to {self.moved_to}, "
            "the day is marked for rebuild"
        )


def footer_problem(files: FileStore, path: str) -> str | None:
    """Why `path` is not a readable Parquet file (its footer does not parse), or None when it is."""
    try:
        with files.fs.open_input_file(path) as handle:
            pq.read_metadata(handle)
    except FileNotFoundError:
        return MISSING
    except (pa.ArrowException, OSError) as error:
        if not is_corruption(error):
            raise  # a transport error (network, permissions) says nothing about the file
        return str(error).splitlines()[0] or type(error).__name__
    return None


def is_corruption(error: BaseException) -> bool:
    """True when opening a Parquet file failed on its bytes (magic, footer, metadata), not on the way to them."""
    if isinstance(error, FileNotFoundError):
        return False
    text = str(error)
    return isinstance(error, pa.ArrowInvalid) or "deserialize thrift" in text or "Parquet" in text


def set_aside(files: FileStore, path: str, table: str, day: date, reason: str) -> CorruptFile:
    """Move the corrupt file at `path` to `corrupt/` below the root (same relative path) and log it in one line."""
    path = files.location.strip(path)
    target = files.path(f"{CORRUPT_DIR}/{files.relative(path)}")
    if files.exists(path):
        files.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        files.fs.move(path, target)
    else:  # nothing to move: it is gone already
        target = "(nowhere: it is gone)"
    found = CorruptFile(path, target, table, day, reason)
    LOG.warning(found.describe())
    return found


class RebuildMarks:
    """The (table, day)s whose files were set aside as corrupt, until a build of that day replaces them."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        ensure_schema(engine)

    def mark(self, found: CorruptFile) -> None:
        row = {
            "path": found.path,
            "day": found.day.isoformat(),
            "table_name": found.table,
            "reason": found.reason,
            "detected_at": time.time(),
        }
        with self.engine.begin() as con:
            con.execute(sa.delete(REBUILD).where(REBUILD.c.path == found.path))
            con.execute(sa.insert(REBUILD).values(**row))

    def days(self) -> dict[date, set[str]]:
        """The marked days and, for each, the tables (or `bronze`) that lost a file."""
        found: dict[date, set[str]] = defaultdict(set)
        with self.engine.connect() as con:
            for row in con.execute(sa.select(REBUILD.c.day, REBUILD.c.table_name)):
                found[date.fromisoformat(row.day)].add(row.table_name)
        return dict(found)

    def rebuilt(self, day: date, tables: set[str]) -> None:
        """The day's `tables` were built again: forget their marks."""
        if tables:
            where = (REBUILD.c.day == day.isoformat()) & REBUILD.c.table_name.in_(sorted(tables))
            with self.engine.begin() as con:
                con.execute(sa.delete(REBUILD).where(where))
