"""One warehouse, local or on object storage: bronze, the Iceberg lake, the publication and `fingerprint.duckdb`.

A day is written in two steps, and becomes visible to analysts as a whole:
1. `stage(table, day, frame)`: each asset writes its tables' rows of the day as new data files (invisible);
2. `publish_day(day, derive)`: commit every staged table of the day to its Iceberg table, compute the derived
   tables (the feeds) over the warehouse as it will be, commit them, then replace the day's published files of
   every one of those tables in one database transaction, and (for a local warehouse) rebuild
   `fingerprint.duckdb` aside and rename it into place under a file lock.
Readers (`reader()`, `fingerprint.duckdb`) see one publication: every table of a day old, or every table new.

`fingerprint.duckdb` holds only views (over explicit lists of immutable files), so it is rebuilt in a second and
an analyst's open read-only connection never blocks or fails a publish: it keeps its views until it reconnects.
What a publish leaves behind is bounded (`collect`, after every publish): a replaced data file is deleted once
it is `retention_s` old (default 24 h) or KEEP_GENERATIONS later publishes of its table's day replaced it again,
whichever comes first; Iceberg snapshots older than that, or behind the newest MAX_SNAPSHOTS of a table, are
expired with their manifests; and the day's folders (lake and bronze) and the warehouse root are swept of files
nothing references (a killed writer's data files, temp files, `fingerprint.duckdb` temp copies and their `.wal`)
once DEBRIS_AGE_S old. So a connection held across that many publishes must reconnect.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from pipelines.state import StateStore
from pipelines.storage.atomic import is_temp, replacing, reporting_disk_full
from pipelines.storage.bronze import Bronze
from pipelines.storage.database import engine_for
from pipelines.storage.duckdb_views import Comment, PublishError, open_reader, write_database
from pipelines.storage.files import FileStore
from pipelines.storage.integrity import BRONZE, MISSING, CorruptFile, RebuildMarks, footer_problem, set_aside
from pipelines.storage.lake import DAY_COLUMN, DataFile, Lake, StagingWriter, stored_schema
from pipelines.storage.location import Location
from pipelines.storage.locks import exclusive_lock
from pipelines.storage.publication import FilesByTable, Publication

DATABASE_FILE = "fingerprint.duckdb"
DEFAULT_RETENTION_S = 24 * 3600.0
DEFAULT_LOCK_TIMEOUT_S = 600.0
MAX_SNAPSHOTS = 20  # per table, whatever their age
KEEP_GENERATIONS = 10  # replaced versions of one table's day kept, whatever their age
DEBRIS_AGE_S = 3600.0  # an unreferenced file this old is no writer's work in progress
_T = TypeVar("_T")
Derive = Callable[[duckdb.DuckDBPyConnection], Mapping[str, pl.DataFrame]]


@dataclass
class CollectReport:
    """What a clean-up after a publish deleted."""

    superseded_files: int = 0
    snapshots: int = 0
    debris_files: int = 0
    debris_bytes: int = 0


@dataclass
class PublishReport:
    """What publishing a day did."""

    publication: int
    tables: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    collected: CollectReport = field(default_factory=CollectReport)


class Warehouse:
    """The warehouse at `location`, with its catalog database at `catalog_url` and its declared tables."""

    def __init__(
        self,
        location: Location,
        catalog_url: str,
        schemas: Mapping[str, pl.Schema],
        sql_files: Sequence[Path] = (),
        retention_s: float = DEFAULT_RETENTION_S,
        comment: Comment | None = None,
    ) -> None:
        self.location, self.comment = location, comment
        self.schemas, self.sql_files, self.retention_s = dict(schemas), list(sql_files), retention_s
        self.files = FileStore(location)
        if not location.is_remote:
            location.local_root.mkdir(parents=True, exist_ok=True)  # the default catalog database lives in it
        engine = engine_for(catalog_url)
        self.state = StateStore(engine, _local_dir(location))
        self.marks = RebuildMarks(engine)
        self.bronze = Bronze(self.files, on_corrupt=self.marks.mark)
        self.lake = Lake(location, self.files, engine, catalog_url)
        self.publication = Publication(engine)

    @property
    def database_path(self) -> Path:
        """`fingerprint.duckdb` of a local warehouse."""
        return self.location.local_root / DATABASE_FILE

    @property
    def disk_path(self) -> Path:
        """The local folder a full disk is reported for: the warehouse's, or the locks' of a remote one."""
        return self.state.local_dir if self.location.is_remote else self.location.local_root

    # --- writing a day --------------------------------------------------------------------------------------
    def stage(self, table: str, day: date, frame: pl.DataFrame) -> int:
        """Stage `frame` as `table`'s rows of `day` (replacing what was staged before); return the rows."""
        with reporting_disk_full(self.disk_path):
            files = [self.lake.stage(table, day, frame, self.schemas[table])] if frame.height else []
            self._record_staged(table, day, files)
        return frame.height

    def keep_staged(self, table: str, day: date, writer: StagingWriter) -> None:
        """Stage what a `lake.staging` writer wrote as `table`'s rows of `day` (an empty file is dropped)."""
        assert writer.file is not None, "keep_staged takes a writer whose block has ended"
        if not writer.rows:
            self.files.delete(self.location.strip(writer.file.uri))
        self._record_staged(table, day, [writer.file] if writer.rows else [])

    def _record_staged(self, table: str, day: date, files: list[DataFile]) -> None:
        for replaced in self.publication.stage(day, table, files):
            self.files.delete(self.location.strip(replaced.uri))  # staged, never published: nobody reads it

    def publish_day(self, day: date, derive: Derive | None = None, database: bool = True) -> PublishReport:
        """Commit the day's staged tables and `derive`'s tables, then publish them all at once.

        A full disk met on the way (a data file, Iceberg metadata, the catalog database) raises `DiskFull`.
        `database=False` leaves `fingerprint.duckdb` for the caller to rewrite once after publishing several days
        (`write_database`); it then keeps showing the replaced files, which `collect` keeps a while.
        """
        with reporting_disk_full(self.disk_path):
            return self._publish_day(day, derive, database)

    def _publish_day(self, day: date, derive: Derive | None, database: bool) -> PublishReport:
        started = time.monotonic()
        staged = self.publication.staged(day)
        for table, files in staged.items():
            self.lake.commit_day(table, day, files, self.schemas[table])
        if derive is not None:
            derived = self._repairing(lambda: self._derive(day, staged, derive))
            for table, frame in derived.items():
                files = [self.lake.stage(table, day, frame, self.schemas[table])] if frame.height else []
                self.lake.commit_day(table, day, files, self.schemas[table])
                staged[table] = files
        seq = self.publication.publish(day, staged)
        self.marks.rebuilt(day, set(staged) | ({BRONZE} if "fetches" in staged else set()))
        if database and not self.location.is_remote:
            self._repairing(self.write_database)
        collected = self.collect(staged, [day])
        rows = {table: sum(f.rows for f in files) for table, files in staged.items()}
        return PublishReport(seq, sorted(staged), rows, time.monotonic() - started, collected)

    def _derive(self, day: date, staged: FilesByTable, derive: Derive) -> dict[str, pl.DataFrame]:
        """`derive`'s tables over the warehouse as it will be once the day's staged files are published."""
        candidate = self.publication.files(except_day=day)
        for table, files in self._published_day(day, exclude=staged).items():
            candidate.setdefault(table, []).extend(files)
        for table, files in staged.items():
            candidate.setdefault(table, []).extend(files)
        with open_reader(self.location, candidate, self.schemas, self.sql_files) as con:
            return dict(derive(con))

    # --- corrupt files --------------------------------------------------------------------------------------
    def verify(self) -> list[CorruptFile]:
        """Check the footer of every published and staged file; set the corrupt ones aside (`integrity`)."""
        found = []
        for table, day, uri in self.publication.entries():
            problem = footer_problem(self.files, self.location.strip(uri))
            if problem is None or (problem == MISSING and not self.publication.names(uri)):
                continue  # sound, or a staged file another run replaced (and deleted) meanwhile
            corrupt = set_aside(self.files, uri, table, day, problem)
            self.publication.drop_file(uri)
            self.marks.mark(corrupt)
            found.append(corrupt)
        return found

    def _repairing(self, build: Callable[[], _T]) -> _T:
        """`build()`, and once more after setting corrupt files aside if it failed on the files it reads."""
        try:
            return build()
        except (duckdb.Error, PublishError):
            if not self.verify():
                raise
        return build()

    def collect(self, tables: Iterable[str], days: Iterable[date], now: float | None = None) -> CollectReport:
        """Delete what publishing left behind and nobody may read any more (see the module docstring)."""
        now = time.time() if now is None else now
        report = CollectReport()
        expired = self.publication.superseded(now - self.retention_s, KEEP_GENERATIONS)
        for uri in expired:
            self.files.delete(self.location.strip(uri))
        self.publication.forget_superseded(expired)
        report.superseded_files = len(expired)
        tables = list(tables)
        oldest = datetime.fromtimestamp(now - self.retention_s, UTC)
        report.snapshots = self.lake.expire(tables, oldest, MAX_SNAPSHOTS, now - DEBRIS_AGE_S)
        self._sweep_temps(days, now - DEBRIS_AGE_S, report)
        referenced = {self.location.strip(uri) for uri in self.publication.referenced()}
        for table in tables:
            folder = self.lake.table_location(table, self.schemas[table])
            for day in days:
                for stored in self.files.walk(f"{folder}/data/{DAY_COLUMN}={day.isoformat()}"):
                    if stored.path not in referenced and stored.mtime < now - DEBRIS_AGE_S:
                        self.files.delete(stored.path)
                        report.debris_files += 1
                        report.debris_bytes += stored.size
        return report

    def _sweep_temps(self, days: Iterable[date], before: float, report: CollectReport) -> None:
        """Delete killed writers' temp files (bronze parts of `days`, `fingerprint.duckdb`) older than `before`."""
        found = [f for day in days for f in self.files.walk(self.bronze.day_dir(day))]
        found += self.files.list_all("")  # the root: fingerprint.duckdb's temp copies and their write-ahead logs
        for stored in found:
            if is_temp(Path(stored.name)) and stored.mtime < before:
                self.files.delete(stored.path)
                report.debris_files += 1
                report.debris_bytes += stored.size

    def purge(self, tables: Iterable[str], days: Iterable[date]) -> CollectReport:
        """Delete now what `collect` would keep a while: every replaced data file of `days` of `tables`, every
        snapshot of `tables` but the current one with the manifests only those used, and every unreferenced file
        of those days' folders. An erasure's last step (`pipelines.erasure`): the replaced files, the old
        snapshots and their manifests' column bounds still hold the erased rows.

        A connection still reading the replaced files fails on its next read and must reconnect.
        """
        now = time.time()
        tables, keys = list(tables), {d.isoformat() for d in days}
        report = CollectReport()
        doomed = self.publication.superseded_of(tables, keys)
        for uri in doomed:
            self.files.delete(self.location.strip(uri))
        self.publication.forget_superseded(doomed)
        report.superseded_files = len(doomed)
        report.snapshots = self.lake.expire(tables, datetime.fromtimestamp(now + 1, UTC), 1, now + 1)
        referenced = {self.location.strip(uri) for uri in self.publication.referenced()}
        for table in tables:
            folder = self.lake.table_location(table, self.schemas[table])
            for key in sorted(keys):
                for stored in self.files.walk(f"{folder}/data/{DAY_COLUMN}={key}"):
                    if stored.path not in referenced:
                        self.files.delete(stored.path)
                        report.debris_files += 1
                        report.debris_bytes += stored.size
        return report

    def _published_day(self, day: date, exclude: Mapping[str, object]) -> FilesByTable:
        """The day's published files of the tables not in `exclude` (they keep their last publication)."""
        found: FilesByTable = {}
        for table in self.schemas:
            if table not in exclude:
                found[table] = self.publication.day_files(table, day)
        return found

    def write_database(self, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Path:
        """Rebuild `fingerprint.duckdb` from the newest publication, aside, renamed into place under a lock."""
        target = self.database_path
        with exclusive_lock(self.state.lock_path("publish"), lock_timeout_s, purpose="publish fingerprint.duckdb"):
            seq = self.publication.latest()
            files = self.publication.files()
            with replacing(target) as tmp:
                write_database(tmp, self.location, files, self.schemas, self.sql_files, seq, self.comment)
        return target

    # --- reading --------------------------------------------------------------------------------------------
    def reader(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection over the newest publication, wherever the warehouse lives (a corrupt file
        it meets is set aside first, so the rest stays queryable)."""
        return self._repairing(
            lambda: open_reader(self.location, self.publication.files(), self.schemas, self.sql_files)
        )

    def read_day(self, table: str, day: date) -> pl.DataFrame:
        """`table`'s rows of `day` as they will be published: the staged files if any, else the published ones."""
        staged = self.publication.staged(day)
        files = staged[table] if table in staged else self.publication.day_files(table, day)
        return self._read(table, files).with_columns(pl.lit(day, pl.Date).alias(DAY_COLUMN))

    def read_table(self, table: str) -> pl.DataFrame:
        """Every published row of `table`, `day` last (for checks and tests; analysts use `reader()`)."""
        return self._read(table, self.publication.files([table]).get(table, []))

    def _read(self, table: str, files: list[DataFile]) -> pl.DataFrame:
        schema = self.schemas[table]
        stored = stored_schema(schema)
        frames = []
        for f in files:
            with self.files.open_parquet(self.location.strip(f.uri)) as parquet:
                frames.append(pl.from_arrow(parquet.read()))
        frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=stored)
        missing = [pl.lit(None, dtype).alias(name) for name, dtype in stored.items() if name not in frame.columns]
        frame = frame.with_columns(missing).select(stored.names())
        return frame.cast({name: dtype for name, dtype in schema.items() if name != DAY_COLUMN})

    def published_days(self, table: str) -> list[date]:
        return self.publication.days(table)

    def tables_holding(self, day: date) -> set[str]:
        """The tables that have rows of `day`, staged or published (an empty day counts)."""
        return self.publication.tables_holding(day)


def _local_dir(location: Location) -> Path:
    """Where single-machine locks live: beside a local warehouse, in the temp folder for a remote one."""
    if not location.is_remote:
        return location.local_root / ".locks"
    digest = hashlib.sha256(location.uri().encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"fpwh-{digest}"
