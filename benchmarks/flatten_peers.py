"""The peers of `bench_flatten.py`: what a user would write with DuckDB or polars for the same columns.

Both read the catalog's `events` and `ip_info` (v4 and v6) columns with an explicit type generated from the
catalog (a DuckDB STRUCT, a polars Struct dtype): no type inference, so they do the same decoding work as
the flattener for those columns, and none of its other work (six more tables, quarantine, unknown fields).
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # each contender imports only what it uses, so its start-up is its own
    import polars as pl

_DUCK = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "json": "JSON"}
_POLARS = {"string": "String", "int": "Int64", "float": "Float64", "bool": "Boolean"}


def peer_paths() -> dict[str, dict[str, tuple[str, str]]]:
    """Per peer table, column -> (v3 JSON path, kind): the catalog's `events` and `ip_info` (v4 and v6) columns."""
    from transforms.catalog import EVENTS, IP_INFO

    events = {c.name: (c.v3, c.kind) for c in EVENTS.columns if c.v3}
    ip = {
        version: {c.name: (f"products.ipInfo.data.{version}.{c.v3}", c.kind) for c in IP_INFO.columns if c.v3}
        for version in ("v4", "v6")
    }
    return {"events": events, **{f"ip_info_{v}": cols for v, cols in ip.items()}}


def _leaf_kinds() -> dict[str, str]:
    """JSON path -> source type of every leaf the peers read (a timestamp is a string in v3, except `timestamp`)."""
    leaves = {}
    for columns in peer_paths().values():
        for path, kind in columns.values():
            leaves[path] = "int" if kind == "timestamp" and path.endswith(".timestamp") else kind
    return {p: ("string" if k == "timestamp" else k) for p, k in leaves.items()}


def _nest(leaves: dict[str, str]) -> dict:
    tree: dict = {}
    for path, kind in leaves.items():
        node = tree
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = kind
    return tree


def duckdb_type(node: dict | str) -> str:
    if isinstance(node, str):
        return _DUCK[node]
    return "STRUCT(" + ", ".join(f'"{k}" {duckdb_type(v)}' for k, v in node.items()) + ")"


def _duck_select(path: str, kind: str) -> str:
    expr = "j." + ".".join(f'"{p}"' for p in path.split("."))
    if kind == "timestamp":
        return f"to_timestamp({expr} / 1000)" if path.endswith(".timestamp") else f"TRY_CAST({expr} AS TIMESTAMPTZ)"
    return f"{expr}::VARCHAR" if kind == "json" else expr


def run_duckdb_struct(src: Path, out: Path) -> int:
    import duckdb

    tree = _nest(_leaf_kinds())
    columns = "{" + ", ".join(f"'{k}': '{duckdb_type(v)}'" for k, v in tree.items()) + "}"
    con = duckdb.connect(str(out / "peer.duckdb"))
    con.execute(
        f"CREATE TEMP TABLE raw AS SELECT i.rid, j FROM "
        f"(SELECT row_number() OVER () AS n, j FROM read_json('{src}', format='newline_delimited', "
        f"columns={columns}) AS j) o JOIN "
        f"(SELECT column0 AS rid, row_number() OVER () AS n FROM read_csv('{src.with_suffix('.ids')}', "
        f"header=false, columns={{'column0': 'VARCHAR'}})) i USING (n)"
    )
    tables = peer_paths()
    events = ", ".join(f"{_duck_select(p, k)} AS {c}" for c, (p, k) in tables["events"].items())
    con.execute(
        f"COPY (SELECT rid AS request_id, {events} FROM raw) TO '{out}/events.parquet' "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    ip = []
    for version in ("v4", "v6"):
        cols = ", ".join(f"{_duck_select(p, k)} AS {c}" for c, (p, k) in tables[f"ip_info_{version}"].items())
        anchor = f'j."products"."ipInfo"."data"."{version}"'
        ip.append(f"SELECT rid AS request_id, '{version}' AS ip_version, {cols} FROM raw WHERE {anchor} IS NOT NULL")
    con.execute(f"COPY ({' UNION ALL '.join(ip)}) TO '{out}/ip_info.parquet' (FORMAT parquet, COMPRESSION zstd)")
    n = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    con.close()
    return n


def polars_dtype(node: dict | str) -> pl.DataType:
    import polars as pl

    if isinstance(node, str):
        return getattr(pl, _POLARS[node])()
    return pl.Struct({k: polars_dtype(v) for k, v in node.items()})


def _polars_select(path: str, kind: str) -> pl.Expr:
    import polars as pl

    first, *rest = path.split(".")
    expr = pl.col("j").struct.field(first)
    for part in rest:
        expr = expr.struct.field(part)
    if kind == "timestamp":
        if path.endswith(".timestamp"):
            return pl.from_epoch(expr, "ms").dt.replace_time_zone("UTC")
        return expr.str.to_datetime(time_zone="UTC", strict=False)
    return expr


def run_polars_decode(src: Path, out: Path) -> int:
    import polars as pl
    import pyarrow.parquet as pq

    leaves = {p: k for p, k in _leaf_kinds().items() if k != "json"}
    dtype = polars_dtype(_nest(leaves))
    tables = {name: {c: (p, k) for c, (p, k) in cols.items() if k != "json"} for name, cols in peer_paths().items()}
    ids = pl.read_csv(src.with_suffix(".ids"), has_header=False, schema={"request_id": pl.String})
    writers: dict[str, pq.ParquetWriter] = {}
    n = 0
    read = {"has_header": False, "separator": "\x01", "quote_char": None, "schema": {"line": pl.String}}
    with src.open("rb") as fh:
        while chunk := list(itertools.islice(fh, 50_000)):
            lines = pl.read_csv(io.BytesIO(b"".join(chunk)), **read)
            frame = lines.select(pl.col("line").str.json_decode(dtype).alias("j")).with_columns(
                ids["request_id"].slice(n, lines.height)
            )
            outputs = {
                "events": frame.select(
                    "request_id", *(_polars_select(p, k).alias(c) for c, (p, k) in tables["events"].items())
                )
            }
            ip = []
            for version in ("v4", "v6"):
                anchor = (
                    pl.col("j")
                    .struct.field("products")
                    .struct.field("ipInfo")
                    .struct.field("data")
                    .struct.field(version)
                )
                cols = tables[f"ip_info_{version}"]
                ip.append(
                    frame.filter(anchor.is_not_null()).select(
                        "request_id",
                        pl.lit(version).alias("ip_version"),
                        *(_polars_select(p, k).alias(c) for c, (p, k) in cols.items()),
                    )
                )
            outputs["ip_info"] = pl.concat(ip)
            for name, df in outputs.items():
                table = df.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema, compression="zstd")
                writers[name].write_table(table)
            n += lines.height
    for writer in writers.values():
        writer.close()
    return n
