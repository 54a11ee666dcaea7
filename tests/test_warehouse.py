"""fingerprint.duckdb: views over the lake, rebuilt beside the live file and renamed over it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.storage import lake
from pipelines.storage.locks import LockTimeout
from pipelines.storage.warehouse import (
    DATABASE_FILE,
    PublishError,
    connect_read_only,
    duckdb_type,
    publish_lock,
    publish_views,
)
from pipelines.tables import WAREHOUSE_TABLES

REPO = Path(__file__).resolve().parents[1]
DAY1, DAY2, DAY3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)
EVENTS = pl.Schema(
    {
        "request_id": pl.String,
        "visitor_id": pl.String,
        "suspect_score": pl.Int32,
        "bot": pl.Boolean,
        "event_time": pl.Datetime("us", "UTC"),
        "tags": pl.List(pl.String),
    }
)
SCHEMAS = {"events": EVENTS}


def events(n: int, **extra: pl.Expr) -> pl.DataFrame:
    rows = {
        "request_id": [f"r{i}" for i in range(n)],
        "visitor_id": [f"v{i % 7}" for i in range(n)],
        "suspect_score": [i % 30 for i in range(n)],
        "bot": [i % 5 == 0 for i in range(n)],
        "event_time": [datetime(2024, 3, 1, 12, tzinfo=UTC)] * n,
        "tags": [["a", "b"]] * n,
    }
    return pl.DataFrame(rows, schema=EVENTS).with_columns(**extra)


def write_day(warehouse: Path, day: date, n: int, table: str = "events", **extra: pl.Expr) -> None:
    lake.write_partition(warehouse / "lake", table, day, events(n, **extra))


def counts_per_day(warehouse: Path, view: str = "events") -> dict[str, int]:
    with connect_read_only(warehouse) as con:
        rows = con.execute(f"SELECT CAST(day AS VARCHAR), count(*) FROM {view} GROUP BY ALL").fetchall()
    return dict(rows)


def sql_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_polars_types_map_to_the_duckdb_types_bi_tools_read() -> None:
    mapping = {
        pl.String: "VARCHAR",
        pl.Int8: "TINYINT",
        pl.Int16: "SMALLINT",
        pl.Int32: "INTEGER",
        pl.Int64: "BIGINT",
        pl.Float64: "DOUBLE",
        pl.Boolean: "BOOLEAN",
        pl.Date: "DATE",
        pl.Datetime("us", "UTC"): "TIMESTAMPTZ",
        pl.Datetime("ms", "UTC"): "TIMESTAMPTZ",
        pl.Datetime("us"): "TIMESTAMP",
        pl.Binary: "BLOB",
        pl.List(pl.String): "VARCHAR[]",
        pl.Struct({"code": pl.String, "n": pl.Int64}): 'STRUCT("code" VARCHAR, "n" BIGINT)',
    }
    assert {dtype: duckdb_type(dtype) for dtype in mapping} == mapping
    with pytest.raises(TypeError, match="no DuckDB type declared"):
        duckdb_type(pl.Object)


def test_each_table_is_a_view_with_declared_types_in_declared_order_then_day(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 30)
    write_day(tmp_path, DAY2, 20)

    published = publish_views(tmp_path, SCHEMAS)

    assert published == tmp_path / DATABASE_FILE
    with connect_read_only(tmp_path) as con:
        columns = con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall()
        kinds = con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall()
    assert columns == [
        ("request_id", "VARCHAR"),
        ("visitor_id", "VARCHAR"),
        ("suspect_score", "INTEGER"),
        ("bot", "BOOLEAN"),
        ("event_time", "TIMESTAMP WITH TIME ZONE"),
        ("tags", "VARCHAR[]"),
        ("day", "DATE"),
    ]
    assert sorted(kinds) == [("_fpwh_meta", "BASE TABLE"), ("events", "VIEW")]
    assert counts_per_day(tmp_path) == {"2024-03-01": 30, "2024-03-02": 20}


def test_a_table_without_partitions_is_a_typed_empty_view(tmp_path: Path) -> None:
    publish_views(tmp_path, {"ip_info": pl.Schema({"ip": pl.String, "seen_at": pl.Datetime("us", "UTC")})})

    with connect_read_only(tmp_path) as con:
        columns = con.execute("SELECT column_name, column_type FROM (DESCRIBE ip_info)").fetchall()
        rows = con.execute("SELECT count(*) FROM ip_info").fetchall()
    assert columns == [("ip", "VARCHAR"), ("seen_at", "TIMESTAMP WITH TIME ZONE"), ("day", "DATE")]
    assert rows == [(0,)]


def test_a_column_added_in_a_later_partition_reads_as_null_for_older_days(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 2)
    write_day(tmp_path, DAY2, 3, city=pl.lit("Oslo"))
    schemas = {"events": pl.Schema({**EVENTS, "city": pl.String, "asn": pl.Int64})}

    publish_views(tmp_path, schemas)

    query = "SELECT CAST(day AS VARCHAR), count(city), count(asn) FROM events GROUP BY ALL ORDER BY 1"
    with connect_read_only(tmp_path) as con:
        assert con.execute(query).fetchall() == [("2024-03-01", 0, 0), ("2024-03-02", 3, 0)]
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())
        assert types["asn"] == "BIGINT"


def test_republishing_is_idempotent_and_a_rerun_day_never_duplicates_rows(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 10)
    publish_views(tmp_path, SCHEMAS)
    publish_views(tmp_path, SCHEMAS)
    write_day(tmp_path, DAY1, 10)
    publish_views(tmp_path, SCHEMAS)

    assert counts_per_day(tmp_path) == {"2024-03-01": 10}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", ".snapshots", DATABASE_FILE, "lake"]


def test_a_lake_rewrite_reaches_the_warehouse_when_it_is_published(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 10)
    publish_views(tmp_path, SCHEMAS)
    write_day(tmp_path, DAY1, 12)

    assert counts_per_day(tmp_path) == {"2024-03-01": 10}
    publish_views(tmp_path, SCHEMAS)
    assert counts_per_day(tmp_path) == {"2024-03-01": 12}


def test_views_read_hard_links_to_the_lake_files_not_copies(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 10)

    publish_views(tmp_path, SCHEMAS)

    [snapshot] = (tmp_path / ".snapshots").iterdir()
    linked = lake.partition_path(snapshot, "events", DAY1)
    assert linked.stat().st_ino == lake.partition_path(tmp_path / "lake", "events", DAY1).stat().st_ino


def test_old_snapshots_are_dropped_after_their_retention_but_never_the_current_one(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 10)
    publish_views(tmp_path, SCHEMAS)
    publish_views(tmp_path, SCHEMAS)
    assert len(list((tmp_path / ".snapshots").iterdir())) == 2

    publish_views(tmp_path, SCHEMAS, keep_snapshots_s=0)

    assert len(list((tmp_path / ".snapshots").iterdir())) == 1
    assert counts_per_day(tmp_path) == {"2024-03-01": 10}


def test_sql_files_run_in_order_and_can_build_on_each_other(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 30)
    first = sql_file(tmp_path, "suspicious.sql", "CREATE VIEW suspicious AS SELECT * FROM events WHERE bot;")
    second = sql_file(
        tmp_path,
        "per_visitor.sql",
        "-- how many suspicious requests each visitor made\n"
        "CREATE OR REPLACE VIEW per_visitor AS SELECT visitor_id, count(*) AS n FROM suspicious GROUP BY 1;\n"
        "CREATE OR REPLACE VIEW busiest AS SELECT max(n) AS n FROM per_visitor;",
    )

    publish_views(tmp_path, SCHEMAS, [first, second])

    with connect_read_only(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM suspicious").fetchall() == [(6,)]
        assert con.execute("SELECT n FROM busiest").fetchall() == [(1,)]


def test_the_meta_table_says_when_and_what_was_built(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    publish_views(tmp_path, {"events": EVENTS, "bot_detection": pl.Schema({"bot": pl.String})})

    with connect_read_only(tmp_path) as con:
        meta = con.execute("SELECT built_at, fpwh_version, tables FROM _fpwh_meta").fetchall()
    [(built_at, version, tables)] = meta
    assert built_at >= before
    assert version
    assert tables == ["bot_detection", "events"]


def test_the_file_is_written_in_a_storage_format_duckdb_1_can_read(tmp_path: Path) -> None:
    publish_views(tmp_path, SCHEMAS)

    with connect_read_only(tmp_path) as con:
        tags = dict(con.execute("SELECT database_name, tags FROM duckdb_databases()").fetchall())
    assert tags["fingerprint"]["storage_version"].startswith("v1.")


def test_a_broken_sql_file_fails_the_publish_and_keeps_the_previous_warehouse(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 10)
    publish_views(tmp_path, SCHEMAS)
    before = digest(tmp_path / DATABASE_FILE)
    write_day(tmp_path, DAY2, 5)
    broken = sql_file(tmp_path / "lake", "broken.sql", "CREATE VIEW broken AS SELECT * FROM no_such_table;")

    with pytest.raises(PublishError, match=r"broken\.sql"):
        publish_views(tmp_path, SCHEMAS, [broken])

    assert digest(tmp_path / DATABASE_FILE) == before
    assert counts_per_day(tmp_path) == {"2024-03-01": 10}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", ".snapshots", DATABASE_FILE, "lake"]
    assert len(list((tmp_path / ".snapshots").iterdir())) == 1


def test_connecting_before_the_first_publish_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="publish the warehouse first"):
        connect_read_only(tmp_path)


LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pipelines.storage.warehouse import publish_lock
    with publish_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def hold_publish_lock(warehouse: Path, seconds: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(warehouse), str(seconds)], stdout=subprocess.PIPE, env=env
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    return holder


def test_a_second_publisher_waits_for_the_first(tmp_path: Path) -> None:
    write_day(tmp_path, DAY1, 10)
    holder = hold_publish_lock(tmp_path, 1.0)
    started = time.monotonic()

    publish_views(tmp_path, SCHEMAS)

    assert holder.wait() == 0
    assert time.monotonic() - started >= 0.8


def test_a_publisher_that_cannot_get_the_lock_says_who_holds_it(tmp_path: Path) -> None:
    holder = hold_publish_lock(tmp_path, 3.0)
    try:
        with pytest.raises(LockTimeout, match=f"held by pid {holder.pid} on "):
            publish_views(tmp_path, SCHEMAS, lock_timeout_s=0.2)
        assert not (tmp_path / DATABASE_FILE).exists()
    finally:
        holder.kill()
        holder.wait()
    with publish_lock(tmp_path, timeout_s=1):
        pass


ANALYST = textwrap.dedent(
    """
    import json, sys, duckdb
    from pathlib import Path
    database, stop, mode = sys.argv[1:4]
    per_day = (
        "SELECT CAST(day AS VARCHAR), count(DISTINCT request_id), sum(suspect_score) FROM events GROUP BY 1"
    )
    held = duckdb.connect(database, read_only=True) if mode == "holds" else None
    while not Path(stop).exists():
        con = held or duckdb.connect(database, read_only=True)
        try:
            rows = con.execute(per_day).fetchall()
            print(json.dumps({day: [n, total] for day, n, total in rows}), flush=True)
        except Exception as error:
            print(json.dumps({"error": repr(error)}), flush=True)
        finally:
            if held is None:
                con.close()
    """
)


def start_analyst(warehouse: Path, mode: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = warehouse.parent / f"analyst-{mode}.jsonl"
    stop = warehouse.parent / "stop"
    args = [sys.executable, "-c", ANALYST, str(warehouse / DATABASE_FILE), str(stop), mode]
    with open(log, "wb") as out:
        analyst = subprocess.Popen(args, stdout=out)
    return analyst, log


def observations(log: Path) -> list[dict[str, list[int]]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def wait_for_queries(log: Path, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"the analyst made fewer than {at_least} queries in 10 s")


def whole_day(n: int) -> list[int]:
    """What the analyst's query returns for a complete day of `events(n)`."""
    return [n, sum(i % 30 for i in range(n))]


def test_analysts_with_open_connections_never_block_a_publish_nor_see_half_a_day(tmp_path: Path) -> None:
    warehouse, lake_root = tmp_path / "warehouse", tmp_path / "warehouse" / "lake"
    days = {n: events(n) for n in (5_000, 20_000, 30_000, 40_000, 50_000)}
    lake.write_partition(lake_root, "events", DAY1, days[40_000])
    lake.write_partition(lake_root, "events", DAY2, days[20_000])
    publish_views(warehouse, SCHEMAS)
    analysts = {mode: start_analyst(warehouse, mode) for mode in ("holds", "reconnects")}
    for _, log in analysts.values():
        wait_for_queries(log, 1)

    for n in [30_000, 20_000] * 10 + [30_000]:  # the lake churns while analysts query
        lake.write_partition(lake_root, "events", DAY2, days[n])
    lake.write_partition(lake_root, "events", DAY3, days[5_000])
    publish_views(warehouse, SCHEMAS)
    lake.write_partition(lake_root, "events", DAY1, days[50_000])
    publish_views(warehouse, SCHEMAS)
    for _, log in analysts.values():
        wait_for_queries(log, len(observations(log)) + 3)
    (tmp_path / "stop").touch()

    first = {"2024-03-01": whole_day(40_000), "2024-03-02": whole_day(20_000)}
    last = {"2024-03-01": whole_day(50_000), "2024-03-02": whole_day(30_000), "2024-03-03": whole_day(5_000)}
    middle = {**last, "2024-03-01": whole_day(40_000)}
    for mode, (analyst, log) in analysts.items():
        assert analyst.wait(timeout=10) == 0
        seen = observations(log)
        assert [s for s in seen if "error" in s] == []
        assert all(s in (first, middle, last) for s in seen)
        assert seen[-1] == (first if mode == "holds" else last)


OLD_DUCKDB_READER = textwrap.dedent(
    """
    import json, sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    per_day = "SELECT CAST(day AS VARCHAR), count(*) FROM events GROUP BY ALL ORDER BY 1"
    print(json.dumps({
        "version": duckdb.__version__,
        "counts": con.execute(per_day).fetchall(),
        "types": con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall(),
        "bots": con.execute("SELECT count(*) FROM bots").fetchall(),
        "meta": con.execute("SELECT fpwh_version FROM _fpwh_meta").fetchall(),
        "comments": con.execute(
            "SELECT table_name, comment FROM duckdb_columns() WHERE column_name = 'request_id' ORDER BY 1"
        ).fetchall(),
        "view_comment": con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'bots'").fetchall(),
    }))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("release_line", ["1.4", "1.5", "1.1"])
def test_the_published_file_opens_in_the_duckdb_versions_bi_tools_bundle(tmp_path: Path, release_line: str, old_duckdb):
    write_day(tmp_path, DAY1, 10)
    bots = sql_file(tmp_path, "bots.sql", "-- Events a bot sent.\nCREATE VIEW bots AS SELECT * FROM events WHERE bot;")
    publish_views(tmp_path, SCHEMAS, [bots])
    python = old_duckdb(release_line)

    run = subprocess.run(
        [python, "-c", OLD_DUCKDB_READER, str(tmp_path / DATABASE_FILE)], capture_output=True, text=True
    )

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["version"].startswith(f"{release_line}.")
    assert report["counts"] == [["2024-03-01", 10]]
    assert report["types"][4] == ["event_time", "TIMESTAMP WITH TIME ZONE"]
    assert report["bots"] == [[2]]
    assert report["meta"][0][0]
    request_id = WAREHOUSE_TABLES["events"].columns["request_id"]
    assert report["comments"] == [["bots", request_id], ["events", request_id]]  # COMMENT ON reads back
    assert report["view_comment"] == [["Events a bot sent."]]
