"""Benchmark for the table-format decision (ARCHITECTURE.md, "Table format: Iceberg, not DuckLake"); not a test.

    .venv/bin/python benchmarks/bench_table_format.py [--days 365] [--rows 2000] [--repeats 5]

Replace-a-day with our `Warehouse` (`stage` then `publish_day`: a new Parquet file, one Iceberg commit that deletes the
day's partition and adds the file, the publication's row swap, the clean-up) for one table of `--rows` rows a day, in:
  local  a local folder, SQLite catalog beside it (the demo's default);
  s3     an `s3://` warehouse on a moto server this bench starts, SQLite catalog;
  s3+pg  the same bucket, PostgreSQL catalog (a fresh database on 127.0.0.1:5432, dropped afterwards).
Each is measured when the table holds 1 day and when it holds `--days` days (filled by publishing day after day, as
nights do: the Iceberg metadata grows as it would). Prints the median seconds and the ratios to local. Then it tries
DuckLake, the other candidate: DuckDB's `ducklake` extension, and reports what happened.
Seconds depend on the machine (2 shared cores here); read the ratios.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.storage.location import Location  # noqa: E402
from pipelines.storage.warehouse import Warehouse  # noqa: E402

TABLE = "events"
SCHEMA = pl.Schema(
    {
        "request_id": pl.String,
        "visitor_id": pl.String,
        "ts": pl.Datetime("ms", "UTC"),
        "ip": pl.String,
        "url": pl.String,
        "bot": pl.String,
        "confidence": pl.Float64,
        "incognito": pl.Boolean,
        "suspect_score": pl.Int32,
        "day": pl.Date,
    }
)
LAST_DAY = date(2026, 1, 1)  # fixed: the figures do not depend on today
POSTGRES_ADMIN = os.environ.get("FPWH_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def frame(day: date, rows: int) -> pl.DataFrame:
    """A day of `rows` event-like rows (distinct IDs and visitors, so Parquet compresses as it would)."""
    n = pl.int_range(rows, eager=True)
    start = pl.datetime(day.year, day.month, day.day, time_zone="UTC")
    return pl.DataFrame({"i": n}).select(
        pl.format("{}.{}", pl.lit(day.isoformat()), pl.col("i")).alias("request_id"),
        pl.format("v{}", pl.col("i") % max(1, rows // 3)).alias("visitor_id"),
        (start + pl.duration(seconds=pl.col("i") * 86400 // max(rows, 1))).dt.cast_time_unit("ms").alias("ts"),
        pl.format("10.0.{}.{}", pl.col("i") % 256, pl.col("i") % 251).alias("ip"),
        pl.format("https://shop.example/p/{}", pl.col("i") % 97).alias("url"),
        pl.when(pl.col("i") % 17 == 0).then(pl.lit("bad")).otherwise(pl.lit("notDetected")).alias("bot"),
        (pl.col("i") % 100 / 100).alias("confidence"),
        (pl.col("i") % 5 == 0).alias("incognito"),
        (pl.col("i") % 40).cast(pl.Int32).alias("suspect_score"),
    )


def replace_day(store: Warehouse, day: date, rows: int) -> float:
    """Seconds to stage and publish `day` (a first publish or a replacement)."""
    started = time.perf_counter()
    store.stage(TABLE, day, frame(day, rows))
    store.publish_day(day)
    return time.perf_counter() - started


def measure(store: Warehouse, days: int, rows: int, repeats: int, log: Callable[[str], None]) -> dict[str, float]:
    """Median replace-a-day seconds at 1 day, then at `days` days; and the mean publish while filling."""
    first = LAST_DAY
    replace_day(store, first, rows)  # the table exists, day 1 published
    one = statistics.median(replace_day(store, first, rows) for _ in range(repeats))
    started = time.perf_counter()
    for offset in range(1, days):
        replace_day(store, first - timedelta(days=offset), rows)
        if offset % 50 == 0:
            log(f"    {offset + 1} days published ({time.perf_counter() - started:.0f} s)")
    fill = (time.perf_counter() - started) / max(days - 1, 1)
    many = statistics.median(replace_day(store, first - timedelta(days=days // 2), rows) for _ in range(repeats))
    assert store.published_days(TABLE)[0] == first - timedelta(days=days - 1)
    return {"one": one, "many": many, "fill": fill}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_bucket() -> Iterator[str]:
    """A moto S3 server on a loopback port with a bucket `fpwh`; the AWS_* variables point this process at it."""
    import boto3

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="fpwh")
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield "s3://fpwh"
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the catalog (dropped afterwards), as a SQLAlchemy URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"fpwh_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as con:
        con.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from pipelines.storage.database import dispose

        dispose(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        with admin.connect() as con:
            con.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def write_days(directory: str, catalog: str, days: list[date], rows: int) -> None:
    """One writer process: publish `days` one after another (another writer publishes other days meanwhile)."""
    store = Warehouse(Location.parse(directory), catalog, {TABLE: SCHEMA})
    for day in days:
        replace_day(store, day, rows)


def concurrent_writers(bucket: str, writers: int, days_each: int, rows: int) -> str:
    """`writers` processes publish interleaved days of one table of an s3:// warehouse (PostgreSQL catalog) at once:
    Iceberg's optimistic commits make the losers retry; every day must end up published exactly once."""
    with postgres_database() as catalog:
        directory = f"{bucket}/concurrent"
        days = [LAST_DAY - timedelta(days=n) for n in range(writers * days_each)]
        Warehouse(Location.parse(directory), catalog, {TABLE: SCHEMA}).lake.table(TABLE, SCHEMA)  # created once
        started = time.perf_counter()
        shares = [",".join(d.isoformat() for d in days[w::writers]) for w in range(writers)]
        argv = [sys.executable, __file__, "--rows", str(rows), "--writer", directory, catalog]
        procs = [subprocess.Popen([*argv, share]) for share in shares]
        codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - started
        store = Warehouse(Location.parse(directory), catalog, {TABLE: SCHEMA})
        published = store.published_days(TABLE)
        rows_read = store.read_table(TABLE).height
    ok = codes == [0] * writers and published == sorted(days) and rows_read == rows * len(days)
    return (
        f"{writers} writers x {days_each} days on s3+pg: {seconds:.1f} s, exit codes {codes}, "
        f"{len(published)}/{len(days)} days published, {rows_read} rows ({'as expected' if ok else 'WRONG'})"
    )


def try_ducklake() -> str:
    """What installing DuckLake does on this machine (DuckDB downloads extensions from extensions.duckdb.org)."""
    started = time.perf_counter()
    try:
        with duckdb.connect() as con:
            con.execute("INSTALL ducklake")
            con.execute("LOAD ducklake")
    except duckdb.Error as error:
        first = str(error).splitlines()[0]
        return f"DuckDB {duckdb.__version__}: {first} (after {time.perf_counter() - started:.1f} s)"
    return f"DuckDB {duckdb.__version__}: ducklake installed and loaded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="local,s3,s3+pg")
    parser.add_argument("--writers", type=int, default=2, help="concurrent writer processes (0: skip)")
    parser.add_argument("--writer", nargs=3, metavar=("DIR", "CATALOG", "DAYS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        directory, catalog, days = args.writer
        write_days(directory, catalog, [date.fromisoformat(d) for d in days.split(",")], args.rows)
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="fpwh-bench-") as tmp, moto_bucket() as bucket:
        for mode in args.modes.split(","):
            print(f"{mode}: publishing {args.days} days of {args.rows} rows ...", flush=True)
            if mode == "local":
                location, catalog = Location.parse(f"{tmp}/local"), f"sqlite:///{tmp}/local/catalog.db"
                Path(f"{tmp}/local").mkdir()
                results[mode] = measure(
                    Warehouse(location, catalog, {TABLE: SCHEMA}), args.days, args.rows, args.repeats, print
                )
            elif mode == "s3":
                location, catalog = Location.parse(f"{bucket}/sqlite"), f"sqlite:///{tmp}/s3-catalog.db"
                results[mode] = measure(
                    Warehouse(location, catalog, {TABLE: SCHEMA}), args.days, args.rows, args.repeats, print
                )
            elif mode == "s3+pg":
                with postgres_database() as catalog:
                    location = Location.parse(f"{bucket}/pg")
                    results[mode] = measure(
                        Warehouse(location, catalog, {TABLE: SCHEMA}), args.days, args.rows, args.repeats, print
                    )
        concurrent = concurrent_writers(bucket, args.writers, 10, args.rows) if args.writers else ""
    base = results.get("local")
    print(f"\nreplace one day of {args.rows} rows (median of {args.repeats}), seconds and ratio to local:")
    print(
        f"{'warehouse':<10} {'1 day':>9} {'ratio':>6} {f'{args.days} days':>10} {'ratio':>6} "
        f"{'growth':>7} {'fill/day':>9}"
    )
    for mode, r in results.items():
        one_ratio = r["one"] / base["one"] if base else float("nan")
        many_ratio = r["many"] / base["many"] if base else float("nan")
        print(
            f"{mode:<10} {r['one']:>9.3f} {one_ratio:>6.1f} {r['many']:>10.3f} {many_ratio:>6.1f} "
            f"{r['many'] / r['one']:>7.2f} {r['fill']:>9.3f}"
        )
    if concurrent:
        print(f"\nconcurrent writers: {concurrent}")
    print(f"\nDuckLake: {try_ducklake()}")


if __name__ == "__main__":
    main()
