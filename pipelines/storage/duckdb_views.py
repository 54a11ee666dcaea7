"""DuckDB views over a set of published data files: the one way every reader sees the warehouse.

`fingerprint.duckdb` (a local warehouse's file for analysts and BI tools), `./fpwh sql`, the feeds and the
dashboard all open the same views: one per table over the table's published files (its declared columns in
declared order, cast to their declared types, then `day`; a column absent from every file reads as a typed NULL,
one absent from older files as NULL for those days), then the analyst views of `sql/views/`.

The views read an explicit list of immutable files taken from one publication, so a reader's queries never see
a day half replaced, and a republish never breaks a query that is running. For a remote warehouse the files are
`s3://` URIs, read through an s3fs filesystem registered in the connection (DuckDB's own httpfs extension cannot
be downloaded everywhere; users who have it may use it instead).

Storage format: DuckDB 2.x writes files DuckDB 1.x cannot open; `fingerprint.duckdb` is written with
`STORAGE_COMPATIBILITY_VERSION` v1.1.0, which DuckDB 1.1 to 1.5 and 2.x all open, so BI tools bundling an older
DuckDB read it. Views are stored as SQL text and re-bound by the reader, so they use only syntax those versions
parse. Timestamps with a time zone are TIMESTAMPTZ, as the Parquet files hold them (isAdjustedToUTC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import polars as pl

from pipelines.storage.lake import DAY_COLUMN, DataFile
from pipelines.storage.location import Location, fsspec_s3

STORAGE_COMPATIBILITY_VERSION = "v1.1.0"
Comment = Callable[[duckdb.DuckDBPyConnection], None]
META_TABLE = "_fpwh_meta"

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
    """Building the views failed (a broken SQL file); what was published before is unchanged."""


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
    raise TypeError(f"no DuckDB type declared for polars dtype {dtype}; add it to duckdb_views._SIMPLE_TYPES")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_views(
    con: duckdb.DuckDBPyConnection,
    location: Location,
    files: Mapping[str, Sequence[DataFile]],
    schemas: Mapping[str, pl.Schema],
    sql_files: Sequence[Path] = (),
) -> None:
    """A view per table of `schemas` over its `files`, then the SQL files in order, in `con`."""
    if location.is_remote:
        con.register_filesystem(fsspec_s3())
    for table, schema in schemas.items():
        paths = [_readable(location, f.uri) for f in files.get(table, ())]
        con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(table)} AS {_view_select(con, paths, schema)}")
    for sql_file in sql_files:
        try:
            con.execute(Path(sql_file).read_text(encoding="utf-8"))
        except duckdb.Error as error:
            raise PublishError(f"{sql_file} failed: {error}") from error


def open_reader(
    location: Location,
    files: Mapping[str, Sequence[DataFile]],
    schemas: Mapping[str, pl.Schema],
    sql_files: Sequence[Path] = (),
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection holding the views over `files` (any warehouse location)."""
    con = duckdb.connect()
    try:
        create_views(con, location, files, schemas, sql_files)
    except BaseException:
        con.close()
        raise
    return con


def write_database(
    path: Path,
    location: Location,
    files: Mapping[str, Sequence[DataFile]],
    schemas: Mapping[str, pl.Schema],
    sql_files: Sequence[Path] = (),
    publication: int = 0,
    comment: Comment | None = None,
) -> None:
    """Write a complete `fingerprint.duckdb` at `path` (a temp name the caller renames into place); `comment`
    then describes every relation and column in it (`COMMENT ON`, see `pipelines.comments`)."""
    config = {"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION}
    try:
        with duckdb.connect(str(path), config=config) as con:
            create_views(con, location, files, schemas, sql_files)
            _write_meta(con, sorted(schemas), publication)
            if comment is not None:
                comment(con)
            con.execute("CHECKPOINT")
    except duckdb.Error as error:
        raise PublishError(f"building {path.name} failed: {error}") from error
    finally:
        Path(f"{path}.wal").unlink(missing_ok=True)


def _readable(location: Location, uri: str) -> str:
    """A path DuckDB opens: the plain path of a local file, the `s3://` URI of an object."""
    return uri if location.is_remote else location.strip(uri)


def _write_meta(con: duckdb.DuckDBPyConnection, tables: list[str], publication: int) -> None:
    con.execute(
        f"CREATE TABLE {META_TABLE} (built_at TIMESTAMPTZ, fpwh_version VARCHAR, "
        "storage_compatibility_version VARCHAR, tables VARCHAR[], publication BIGINT)"
    )
    values = [datetime.now(UTC), _fpwh_version(), STORAGE_COMPATIBILITY_VERSION, tables, publication]
    con.execute(f"INSERT INTO {META_TABLE} VALUES (?, ?, ?, ?, ?)", values)


def _view_select(con: duckdb.DuckDBPyConnection, paths: list[str], schema: pl.Schema) -> str:
    """The SELECT behind a table's view: declared columns and types, then `day`."""
    columns = {name: dtype for name, dtype in schema.items() if name != DAY_COLUMN}
    day = quote_identifier(DAY_COLUMN)
    if not paths:
        typed_nulls = [_typed_column(c, t, present=False) for c, t in columns.items()]
        return f"SELECT {', '.join([*typed_nulls, f'CAST(NULL AS DATE) AS {day}'])} WHERE false"
    listed = ", ".join(quote_literal(p) for p in paths)
    source = f"read_parquet([{listed}], union_by_name = true)"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    selected = [_typed_column(c, t, present=c in present) for c, t in columns.items()]
    return f"SELECT {', '.join([*selected, f'CAST({day} AS DATE) AS {day}'])} FROM {source}"


def _typed_column(name: str, dtype: pl.DataType, *, present: bool) -> str:
    """`name` cast to its declared type, or a NULL of that type when no Parquet file has the column."""
    column = quote_identifier(name)
    return f"CAST({column if present else 'NULL'} AS {duckdb_type(dtype)}) AS {column}"


def _fpwh_version() -> str:
    try:
        return metadata.version("fp-events-warehouse")
    except metadata.PackageNotFoundError:
        return "unknown"
