"""`fingerprint.duckdb`: the analysts' entry point, holding only views over the lake plus the `sql/` views.

DuckDB allows one writer, and a writer excludes readers, while analysts and dashboards keep connections
open for hours. So the live file is never opened for writing: `publish_views` builds a complete new file
under a temp name beside it and renames it over the old one. An open read-only connection keeps reading
the old file and a new connection gets the new one. Building costs the same whatever the data volume,
because views hold no data; a failure leaves the previous file untouched.

The views read a snapshot of the lake taken at publish time (hard links, see `snapshots.py`), so a lake
rewrite shows up in the warehouse when it is published, and never breaks a query that is running. Paths in
views are absolute: after moving the warehouse folder, publish again (any `duckdb_warehouse` run). A view selects the
table's declared columns in declared order, then `day`, cast to their declared types; a column absent from
every partition reads as a typed NULL, one absent from older partitions reads as NULL for those days
(`union_by_name`). A table without partitions is a typed empty view. A process sees a newly published file
only after reconnecting (after closing all its connections to the file: DuckDB shares one instance per
path within a process).

Storage format: DuckDB 2.x writes files that DuckDB 1.x cannot open. We write with
`STORAGE_COMPATIBILITY_VERSION` (v1.1.0: storage version 64), which DuckDB 1.1 to 1.5 and 2.x all open,
so BI tools bundling an older DuckDB can read the file. Views are stored as SQL text and re-bound by the
reader, so they use only syntax those versions parse.

Timestamps: a polars Datetime with a time zone maps to TIMESTAMPTZ (TIMESTAMP WITH TIME ZONE), which is
what the Parquet files hold (isAdjustedToUTC) and what BI tools show as an instant in the viewer's zone;
a naive TIMESTAMP would invite reading UTC as local time. DuckDB renders TIMESTAMPTZ in the session's
`TimeZone` (`SET TimeZone = 'UTC'` to see UTC); Python's `fetchall()` of TIMESTAMPTZ needs `pytz`
(Arrow, polars and pandas results do not).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import polars as pl

from pipelines.comments import apply_comments
from pipelines.storage import lake, snapshots
from pipelines.storage.atomic import replacing
from pipelines.storage.locks import exclusive_lock

DATABASE_FILE = "fingerprint.duckdb"
META_TABLE = "_fpwh_meta"
STORAGE_COMPATIBILITY_VERSION = "v1.1.0"
DEFAULT_LOCK_TIMEOUT_S = 600.0

_SIMPLE_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Boolean: "BOOLEAN",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "UTINYINT",
    pl.UInt16: "USMALLINT",
    pl.UInt32: "UINTEGER",
    pl.UInt64: "UBIGINT",
    pl.Float32: "FLOAT",
    pl.Float64: "DOUBLE",
    pl.Date: "DATE",
    pl.Time: "TIME",
    pl.Duration: "INTERVAL",
    pl.Binary: "BLOB",
}


class PublishError(RuntimeError):
    """Building the new warehouse file failed; the previous `fingerprint.duckdb` is unchanged."""


def duckdb_type(dtype: pl.DataType | type[pl.DataType]) -> str:
    """The DuckDB type a polars dtype is stored and shown as (raises TypeError for unmapped dtypes)."""
    if isinstance(dtype, type):
        dtype = dtype()
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        return f"{duckdb_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Struct):
        fields = ", ".join(f"{quote_identifier(f.name)} {duckdb_type(f.dtype)}" for f in dtype.fields)
        return f"STRUCT({fields})"
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    for polars_type, name in _SIMPLE_TYPES.items():
        if isinstance(dtype, polars_type):
            return name
    raise TypeError(f"no DuckDB type declared for polars dtype {dtype}; add it to warehouse._SIMPLE_TYPES")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def database_path(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / DATABASE_FILE


def publish_views(
    warehouse_dir: Path,
    table_schemas: Mapping[str, pl.Schema],
    sql_files: Sequence[Path] = (),
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    keep_snapshots_s: float = snapshots.SNAPSHOT_RETENTION_S,
) -> Path:
    """Rebuild `fingerprint.duckdb` with a view per table of `<warehouse>/lake` plus `sql_files`, in order.

    Serialised across processes by `publish_lock`; returns the published file. Raises PublishError (and
    leaves the previous file as it was) when a statement fails. Snapshots older than `keep_snapshots_s`
    are deleted afterwards, except the new one.
    """
    warehouse_dir = Path(warehouse_dir)
    target = database_path(warehouse_dir)
    with publish_lock(warehouse_dir, lock_timeout_s):
        snapshot = snapshots.create_snapshot(warehouse_dir, warehouse_dir / "lake", table_schemas)
        try:
            with replacing(target) as tmp:
                _write_database(tmp, snapshot, table_schemas, sql_files)
        except BaseException:
            snapshots.drop_snapshot(snapshot)
            raise
        snapshots.drop_old_snapshots(warehouse_dir, keep=snapshot, older_than_s=keep_snapshots_s)
    return target


def connect_read_only(warehouse_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse; reconnect to see a later publish."""
    path = database_path(warehouse_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist yet: publish the warehouse first")
    return duckdb.connect(str(path), read_only=True)


def _write_database(
    path: Path, snapshot: Path, table_schemas: Mapping[str, pl.Schema], sql_files: Sequence[Path]
) -> None:
    config = {"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION}
    try:
        with duckdb.connect(str(path), config=config) as con:
            for table, schema in table_schemas.items():
                view = _view_select(con, snapshot, table, schema)
                con.execute(f"CREATE VIEW {quote_identifier(table)} AS {view}")
            for sql_file in sql_files:
                _run_sql_file(con, Path(sql_file))
            _write_meta(con, sorted(table_schemas), snapshot)
            apply_comments(con, sql_files)
            con.execute("CHECKPOINT")
    except duckdb.Error as error:
        raise PublishError(f"building {path.name} failed, previous warehouse file kept: {error}") from error
    finally:
        Path(f"{path}.wal").unlink(missing_ok=True)


def _run_sql_file(con: duckdb.DuckDBPyConnection, sql_file: Path) -> None:
    try:
        con.execute(sql_file.read_text(encoding="utf-8"))
    except duckdb.Error as error:
        raise PublishError(f"{sql_file} failed, previous warehouse file kept: {error}") from error


def _write_meta(con: duckdb.DuckDBPyConnection, tables: list[str], snapshot: Path) -> None:
    con.execute(
        f"CREATE TABLE {META_TABLE} (built_at TIMESTAMPTZ, fpwh_version VARCHAR, "
        "storage_compatibility_version VARCHAR, tables VARCHAR[], lake_snapshot VARCHAR)"
    )
    values = [datetime.now(UTC), _fpwh_version(), STORAGE_COMPATIBILITY_VERSION, tables, str(snapshot)]
    con.execute(f"INSERT INTO {META_TABLE} VALUES (?, ?, ?, ?, ?)", values)


def _view_select(con: duckdb.DuckDBPyConnection, lake_root: Path, table: str, schema: pl.Schema) -> str:
    """The SELECT behind `table`'s view over a lake-shaped folder: declared columns and types, then `day`."""
    columns = {name: dtype for name, dtype in schema.items() if name != lake.DAY_COLUMN}
    day = quote_identifier(lake.DAY_COLUMN)
    if not lake.partitions(lake_root, table):
        typed_nulls = [_typed_column(c, t, present=False) for c, t in columns.items()]
        return f"SELECT {', '.join([*typed_nulls, f'CAST(NULL AS DATE) AS {day}'])} WHERE false"
    source = (
        f"read_parquet({quote_literal(lake.table_glob(lake_root, table))}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {{{quote_literal(lake.DAY_COLUMN)}: DATE}})"
    )
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    selected = [_typed_column(c, t, present=c in present) for c, t in columns.items()]
    return f"SELECT {', '.join([*selected, day])} FROM {source}"


def _typed_column(name: str, dtype: pl.DataType, *, present: bool) -> str:
    """`name` cast to its declared type, or a NULL of that type when no Parquet file has the column."""
    column = quote_identifier(name)
    return f"CAST({column if present else 'NULL'} AS {duckdb_type(dtype)}) AS {column}"


@contextlib.contextmanager
def publish_lock(warehouse_dir: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold `<warehouse>/.locks/publish.lock`: publishers run one at a time, a second one waits."""
    lock_path = Path(warehouse_dir) / ".locks" / "publish.lock"
    with exclusive_lock(lock_path, timeout_s, purpose="publish the warehouse"):
        yield


def _fpwh_version() -> str:
    try:
        return metadata.version("fp-events-warehouse")
    except metadata.PackageNotFoundError:
        return "unknown"
