"""The lake: every warehouse table as an Apache Iceberg table, partitioned by day, in the warehouse location.

Why Iceberg (ARCHITECTURE.md has the measured comparison): object stores have no rename and no hard links, and a
reader may see a key replaced between two reads of one query; Iceberg writes new, uniquely named, immutable
files and commits a new snapshot atomically, readers see one whole snapshot, and DuckDB, polars, Spark, Trino,
Snowflake, BigQuery and Athena read it. The catalog is pyiceberg's SQL catalog in the catalog database.

Writing a day is two steps, so that a day becomes visible as a whole (`pipelines.storage.warehouse`):
`stage` writes a table's rows of a day as a new data file (not yet in any snapshot); `commit_day` replaces the
day's partition by the staged files in one Iceberg transaction (delete the day, add the files), retried when a
concurrent commit of another day won the race. Data files are never rewritten; `expire` drops old snapshots and
the manifests only they referenced (the warehouse deletes replaced data files, `Warehouse.collect`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from pipelines.storage.database import created_once, driver_url
from pipelines.storage.files import FileStore
from pipelines.storage.location import Location

NAMESPACE = "fpwh"
DAY_COLUMN = "day"
_COMMIT_ATTEMPTS = 20
# Iceberg has no 8- or 16-bit integers: they are stored as int and read back as declared.
_WIDER = {pl.Int8: pl.Int32, pl.Int16: pl.Int32, pl.UInt8: pl.Int32, pl.UInt16: pl.Int32, pl.UInt32: pl.Int64}
_TABLE_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
    "write.parquet.compression-codec": "zstd",
}
_CATALOGS: dict[tuple[str, str], SqlCatalog] = {}
_CATALOGS_LOCK = threading.Lock()


@dataclass(frozen=True)
class DataFile:
    """One Parquet data file of a table's day: its URI (as Iceberg records it) and row count."""

    uri: str
    rows: int


class StagingWriter:
    """Appends frames of one table's day to one data file (see `Lake.staging`)."""

    def __init__(self, day: date, schema: pl.Schema, parquet: pq.ParquetWriter) -> None:
        self.day, self.schema, self.parquet = day, schema, parquet
        self.rows = 0
        self.file: DataFile | None = None

    def write(self, df: pl.DataFrame) -> None:
        if not df.height:
            return
        stored = stored_schema(self.schema)
        absent = [
            pl.lit(None, dtype).alias(name)
            for name, dtype in stored.items()
            if name not in df.columns and name != DAY_COLUMN
        ]
        frame = df.with_columns(*absent, pl.lit(self.day, pl.Date).alias(DAY_COLUMN))
        frame = frame.select(stored.names()).cast(dict(stored))
        self.parquet.write_table(frame.to_arrow().cast(_arrow_schema(self.schema)))
        self.rows += df.height


def stored_schema(schema: pl.Schema) -> pl.Schema:
    """The schema as stored: the declared columns (integers widened where Iceberg needs it), then `day`."""
    columns = {name: _WIDER.get(type(dtype), dtype) for name, dtype in schema.items() if name != DAY_COLUMN}
    return pl.Schema({**columns, DAY_COLUMN: pl.Date()})


def _arrow_schema(schema: pl.Schema) -> pa.Schema:
    return pl.DataFrame(schema=stored_schema(schema)).to_arrow().schema


class Lake:
    """The Iceberg tables of one warehouse."""

    def __init__(self, location: Location, files: FileStore, engine: sa.Engine, catalog_url: str) -> None:
        self.location, self.files = location, files
        self.catalog = _catalog(location, engine, catalog_url)
        self._ready: dict[str, Table] = {}

    def table(self, name: str, schema: pl.Schema) -> Table:
        """The Iceberg table `name`, created (partitioned by day) or evolved to hold every declared column."""
        table = self._ready.get(name)
        if table is not None:
            return table
        arrow = _arrow_schema(schema)
        identifier = f"{NAMESPACE}.{name}"
        try:
            table = self.catalog.load_table(identifier)
        except NoSuchTableError:
            table = self.catalog.create_table_if_not_exists(identifier, schema=arrow, properties=_TABLE_PROPERTIES)
        if not table.spec().fields:
            table = self._partition_by_day(identifier)
        missing = set(arrow.names) - {f.name for f in table.schema().fields}
        if missing:  # a column the catalog declares since: add it (older files read it as NULL)
            with table.update_schema() as update:
                update.union_by_name(arrow)
        self._ready[name] = table
        return table

    def _partition_by_day(self, identifier: str) -> Table:
        for attempt in range(_COMMIT_ATTEMPTS):
            table = self.catalog.load_table(identifier)
            if table.spec().fields:
                return table  # another process did it first
            try:
                with table.update_spec() as spec:
                    spec.add_field(DAY_COLUMN, IdentityTransform(), DAY_COLUMN)
                return self.catalog.load_table(identifier)
            except CommitFailedException:
                time.sleep(0.02 * 2**attempt)
        raise RuntimeError(f"could not partition {identifier} by day")

    def stage(self, name: str, day: date, df: pl.DataFrame, schema: pl.Schema) -> DataFile:
        """Write `df` (the table's rows of `day`) as a new data file of `name`; not yet in any snapshot."""
        with self.staging(name, day, schema) as writer:
            writer.write(df)
        return writer.file

    @contextlib.contextmanager
    def staging(self, name: str, day: date, schema: pl.Schema) -> Iterator[StagingWriter]:
        """A writer of one new data file of `name`'s `day`, fed frame by frame (memory: one frame at a time).

        The file exists (whole) once the block ends without an error; `writer.file` then describes it.
        """
        table = self.table(name, schema)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        relative = f"data/{DAY_COLUMN}={day.isoformat()}/{stamp}-{uuid.uuid4().hex}.parquet"
        target = f"{self.files.relative(table.location())}/{relative}"
        with (
            self.files.writing(target) as stream,
            pq.ParquetWriter(stream, _arrow_schema(schema), compression="zstd") as parquet,
        ):
            writer = StagingWriter(day, schema, parquet)
            yield writer
        writer.file = DataFile(f"{table.location()}/{relative}", writer.rows)

    def commit_day(self, name: str, day: date, files: list[DataFile], schema: pl.Schema) -> None:
        """Replace `day`'s partition of `name` by `files` in one snapshot, retrying lost optimistic commits."""
        identifier = f"{NAMESPACE}.{name}"
        self.table(name, schema)
        for attempt in range(_COMMIT_ATTEMPTS):
            table = self.catalog.load_table(identifier)
            try:
                with table.transaction() as tx, warnings.catch_warnings():
                    # a day published for the first time has nothing to delete: expected, not worth a warning
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    tx.delete(EqualTo(DAY_COLUMN, day.isoformat()))
                    if files:
                        tx.add_files([f.uri for f in files], check_duplicate_files=False)
                self._ready[name] = self.catalog.load_table(identifier)
                return
            except CommitFailedException:
                time.sleep(min(1.0, 0.02 * 2**attempt))  # another writer committed first: redo on its snapshot
        raise RuntimeError(f"could not commit {day} to {identifier} after {_COMMIT_ATTEMPTS} attempts")

    def expire(self, names: Iterable[str], older_than: datetime, keep: int, debris_before: float) -> int:
        """Drop the snapshots of `names` older than `older_than` or behind the newest `keep` (the current one always
        stays), then the manifest files no snapshot left references and older than `debris_before` (epoch s).

        Return the snapshots dropped. Maintenance, not correctness: when another writer commits to a table
        meanwhile, that table is left for the next publish.
        """
        dropped = 0
        cutoff_ms = older_than.timestamp() * 1000
        for name in names:
            try:
                table = self.catalog.load_table(f"{NAMESPACE}.{name}")
            except NoSuchTableError:
                continue
            current = table.metadata.current_snapshot_id
            newest_first = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
            doomed = [
                s.snapshot_id
                for rank, s in enumerate(newest_first)
                if s.snapshot_id != current and (rank >= keep or s.timestamp_ms < cutoff_ms)
            ]
            if not doomed:
                continue
            try:
                table.maintenance.expire_snapshots().by_ids(doomed).commit()
            except CommitFailedException:
                continue
            dropped += len(doomed)
            self._delete_unreferenced_manifests(self.catalog.load_table(f"{NAMESPACE}.{name}"), debris_before)
        return dropped

    def _delete_unreferenced_manifests(self, table: Table, before: float) -> None:
        """Manifest lists and manifests (`metadata/*.avro`) of expired snapshots: Iceberg's orphan-file cleanup,
        limited to files older than `before` so that a concurrent commit's new manifests are never touched."""
        live = set()
        for snapshot in table.metadata.snapshots:
            live.add(snapshot.manifest_list)
            live.update(m.manifest_path for m in snapshot.manifests(table.io))
        live_paths = {self.location.strip(uri) for uri in live}
        folder = f"{self.files.relative(table.location())}/metadata"
        for stored in self.files.list(folder):
            if stored.name.endswith(".avro") and stored.path not in live_paths and stored.mtime < before:
                self.files.delete(stored.path)

    def table_location(self, name: str, schema: pl.Schema) -> str:
        """`name`'s folder below the warehouse root (its data files are in `data/day=YYYY-MM-DD/`)."""
        return self.files.relative(self.table(name, schema).location())

    def table_locations(self) -> dict[str, str]:
        """name -> location URI of every table in the catalog."""
        found = {}
        for _, name in self.catalog.list_tables(NAMESPACE):
            found[name] = self.catalog.load_table(f"{NAMESPACE}.{name}").location()
        return found


def _catalog(location: Location, engine: sa.Engine, catalog_url: str) -> SqlCatalog:
    """One SQL catalog per (database, warehouse) and process; it shares the state's engine (SQLite settings)."""
    key = (catalog_url, location.uri())
    with _CATALOGS_LOCK:
        catalog = _CATALOGS.get(key)
        if catalog is None:
            properties = {
                "uri": driver_url(catalog_url),
                "warehouse": location.uri("lake"),
                **location.iceberg_properties(),
            }
            catalog = created_once(lambda: SqlCatalog(NAMESPACE, **properties))  # it creates its tables
            catalog.engine = engine
            created_once(lambda: catalog.create_namespace_if_not_exists(NAMESPACE))
            _CATALOGS[key] = catalog
        return catalog
