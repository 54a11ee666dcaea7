"""Benchmark: raw NDJSON on disk → silver tables → Parquet + DuckDB, against the peers a user would write.

    ./fpwh bench benchmarks/bench_flatten.py --events 200000 --scale 1000000

Contenders, each in its own process so peak RSS is its own:
  fpwh     our pipeline: orjson + the compiled catalog walker, batched, streaming Parquet writers, DuckDB views
  duckdb   DuckDB alone: read_ndjson_objects + json_extract SQL to the same `events` and `ip_info` tables
  pandas   json.loads + pandas.json_normalize (in 20k chunks) to `events` and `ip_info` Parquet files
The events come from the simulator (20,000 distinct events, cycled with fresh request IDs for volume).
`--scale N` also runs fpwh on N events to show that peak memory stays flat as the input grows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DAY = date(2026, 11, 24)
DISTINCT = 20_000
BATCH = int(os.environ.get("FPWH_BENCH_BATCH", "5000"))  # events per flatten call, as in pipelines.silver
WORKERS = int(os.environ.get("FPWH_BENCH_WORKERS", "0")) or None  # flatten processes (default: all cores)


def generate(path: Path, n: int) -> None:
    """Write n raw v3 bodies (one per line) and their request IDs beside them."""
    import orjson

    from simulator.population import Population

    population = Population(seed=7, events_per_day=DISTINCT)
    base = [(rid, orjson.dumps(population.event_v3(rid))) for _, rid in population.day_events(DAY)]
    with path.open("wb") as bodies, path.with_suffix(".ids").open("w") as ids:
        for i in range(n):
            rid, body = base[i % len(base)]
            new_id = f"{rid[:13]}.{i:06d}"[:20] if i >= len(base) else rid
            bodies.write(body.replace(rid.encode(), new_id.encode()) + b"\n")
            ids.write(new_id + "\n")


def body_batches(src: Path, size: int = BATCH):
    """The input file as BodyBatches of `size` events, read lazily (memory holds a few batches)."""
    from pipelines.flatten_pool import BodyBatch

    with src.open("rb") as bodies, src.with_suffix(".ids").open() as ids:
        while chunk := list(itertools.islice(bodies, size)):
            yield BodyBatch([ids.readline().rstrip("\n") for _ in chunk], chunk, 3)


def run_fpwh(src: Path, out: Path) -> int:
    import pyarrow.parquet as pq

    from pipelines.flatten_pool import flatten_batches
    from pipelines.silver import _PartitionWriters
    from pipelines.storage.warehouse import publish_views
    from pipelines.tables import SILVER_TABLES, schemas

    tables = tuple(t for t in SILVER_TABLES if t not in ("fetches", "unknown_fields"))
    n = 0
    with _PartitionWriters(out / "lake", DAY, tables).committing() as writers:
        for result in flatten_batches(body_batches(src), workers=WORKERS):
            for name, table in [*result.tables.items(), ("quarantine", result.quarantine)]:
                writers.write_arrow(name, table)
            n += result.events_in
    publish_views(out, {k: v for k, v in schemas().items() if k in tables})
    assert pq.ParquetFile(out / "lake" / "events" / f"day={DAY}" / "data.parquet").metadata.num_rows == n
    return n


def _duckdb_expr(path: str, kind: str) -> str:
    json_path = "$." + ".".join(f'"{p}"' for p in path.split("."))
    cast = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMPTZ"}
    if kind == "json":
        return f"json_extract(json, '{json_path}')::VARCHAR"
    if kind == "timestamp":
        raw = f"json_extract(json, '{json_path}')"
        return (
            f"CASE WHEN json_type({raw}) IN ('BIGINT','UBIGINT') THEN to_timestamp({raw}::BIGINT / 1000) "
            f"ELSE TRY_CAST(json_extract_string(json, '{json_path}') AS TIMESTAMPTZ) END"
        )
    return f"TRY_CAST(json_extract_string(json, '{json_path}') AS {cast[kind]})"


def run_duckdb(src: Path, out: Path) -> int:
    import duckdb

    from transforms.catalog import EVENTS, IP_INFO

    events_cols = ",\n".join(f"{_duckdb_expr(c.v3, c.kind)} AS {c.name}" for c in EVENTS.columns if c.v3)
    ip_selects = []
    for version in ("v4", "v6"):
        cols = ",\n".join(
            f"{_duckdb_expr(f'products.ipInfo.data.{version}.{c.v3}', c.kind)} AS {c.name}"
            for c in IP_INFO.columns
            if c.v3
        )
        ip_selects.append(
            f"SELECT rid AS request_id, '{version}' AS ip_version, {cols} FROM raw "
            f"WHERE json_extract(json, '$.products.ipInfo.data.{version}') IS NOT NULL"
        )
    con = duckdb.connect(str(out / "peer.duckdb"))
    con.execute(
        f"CREATE TEMP TABLE raw AS SELECT o.json, i.column0 AS rid FROM "
        f"(SELECT json, row_number() OVER () AS n FROM read_ndjson_objects('{src}')) o JOIN "
        f"(SELECT column0, row_number() OVER () AS n FROM read_csv('{src.with_suffix('.ids')}', header=false, "
        f"columns={{'column0': 'VARCHAR'}})) i USING (n)"
    )
    con.execute(f"CREATE TABLE events AS SELECT rid AS request_id, {events_cols} FROM raw")
    con.execute(f"CREATE TABLE ip_info AS {' UNION ALL '.join(ip_selects)}")
    for table in ("events", "ip_info"):
        con.execute(f"COPY {table} TO '{out / table}.parquet' (FORMAT parquet, COMPRESSION zstd)")
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    return n


def run_pandas(src: Path, out: Path) -> int:
    import pandas as pd

    ids = src.with_suffix(".ids").read_text().split()
    events, ips, n = [], [], 0
    with src.open("rb") as fh:
        while True:
            chunk = [json.loads(line) for _, line in zip(range(20_000), fh, strict=False)]
            if not chunk:
                break
            frame = pd.json_normalize(chunk)
            frame.insert(0, "request_id", ids[n : n + len(chunk)])
            events.append(frame)
            for version in ("v4", "v6"):
                rows = [
                    {"request_id": ids[n + i], "ip_version": version, **e["products"]["ipInfo"]["data"][version]}
                    for i, e in enumerate(chunk)
                    if version in e["products"].get("ipInfo", {}).get("data", {})
                ]
                ips.append(pd.json_normalize(rows))
            n += len(chunk)
    all_events = pd.concat(events, ignore_index=True)
    all_events.astype({c: "string" for c in all_events.columns if all_events[c].dtype == object}).to_parquet(
        out / "events.parquet"
    )
    pd.concat(ips, ignore_index=True).astype("string").to_parquet(out / "ip_info.parquet")
    return n


RUNNERS = {"fpwh": run_fpwh, "duckdb": run_duckdb, "pandas": run_pandas}


def measure(name: str, src: Path, work: Path) -> dict:
    out = work / f"out-{name}-{src.stem}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, str(src), str(out)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return {"name": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"name": name, "events": child["events"], "seconds": seconds, "peak_rss_mb": child["peak_rss_mb"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scale", type=int, default=0, help="also run fpwh alone on this many events")
    parser.add_argument("--peers", default="fpwh,duckdb,pandas")
    parser.add_argument("--work", default=str(ROOT / "bench_out"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, src, out = args.child
        n = RUNNERS[name](Path(src), Path(out))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"events": n, "peak_rss_mb": rss}))
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"events-{args.events}.ndjson"
    if not src.exists():
        t0 = time.perf_counter()
        generate(src, args.events)
        print(f"generated {args.events} events ({src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    results = [measure(name, src, work) for name in args.peers.split(",")]
    base = next((r for r in results if r["name"] == "fpwh" and "error" not in r), None)
    print(f"\n{args.events} events, raw NDJSON → tables → Parquet (+ DuckDB)")
    print(f"{'contender':<8} {'events/s':>10} {'µs/event':>9} {'peak RSS MB':>12} {'time vs fpwh':>13}")
    for r in results:
        if "error" in r:
            print(f"{r['name']:<8} failed: {r['error']}")
            continue
        ratio = r["seconds"] / base["seconds"] if base else float("nan")
        rate = r["events"] / r["seconds"]
        print(f"{r['name']:<8} {rate:>10.0f} {1e6 / rate:>9.1f} {r['peak_rss_mb']:>12.0f} {ratio:>12.2f}x")
    if args.scale and base:
        big = work / f"events-{args.scale}.ndjson"
        if not big.exists():
            generate(big, args.scale)
        scaled = measure("fpwh", big, work)
        print(
            f"\nfpwh at {args.scale} events: {scaled['events'] / scaled['seconds']:.0f} events/s, peak RSS "
            f"{scaled['peak_rss_mb']:.0f} MB = {scaled['peak_rss_mb'] / base['peak_rss_mb']:.2f}x the RSS at "
            f"{args.events} for {args.scale / args.events:.1f}x the events"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
