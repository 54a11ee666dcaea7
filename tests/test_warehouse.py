"""The warehouse's storage: Iceberg tables per day, staged then published whole, read through DuckDB views.

Real files, a real SQLite catalog and real DuckDB; the same code serves an object store (tests/test_remote.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from pipelines.comments import apply_comments
from pipelines.storage.duckdb_views import PublishError, duckdb_type
from pipelines.storage.location import Location
from pipelines.storage.locks import LockTimeout, exclusive_lock
from pipelines.storage.warehouse import DATABASE_FILE, KEEP_GENERATIONS, PublishReport, Warehouse
from pipelines.tables import WAREHOUSE_TABLES

REPO = Path(__file__).resolve().parents[1]
DAY1, DAY2, DAY3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)
EVENTS = pl.Schema(
    {
        "request_id": pl.String,
        "visitor_id": pl.String,
        "suspect_score": pl.Int32,
        "bot": pl.Boolean,
        "api_version": pl.Int8,
        "event_time": pl.Datetime("us", "UTC"),
        "tags": pl.List(pl.String),
    }
)
LOGGED = pl.Schema({"request_id": pl.String, "user": pl.String})
SCHEMAS = {"events": EVENTS, "logged": LOGGED}


def events(n: int, start: int = 0) -> pl.DataFrame:
    rows = {
        "request_id": [f"r{i}" for i in range(start, start + n)],
        "visitor_id": [f"v{i % 7}" for i in range(n)],
        "suspect_score": [i % 30 for i in range(n)],
        "bot": [i % 5 == 0 for i in range(n)],
        "api_version": [3] * n,
        "event_time": [datetime(2024, 3, 1, 12, tzinfo=UTC)] * n,
        "tags": [["a", "b"]] * n,
    }
    return pl.DataFrame(rows, schema=EVENTS)


def logged(n: int) -> pl.DataFrame:
    return pl.DataFrame({"request_id": [f"r{i}" for i in range(n)], "user": [f"u{i}" for i in range(n)]}, schema=LOGGED)


def open_store(root: Path, schemas=SCHEMAS, sql_files=(), retention_s: float = 3600, comment=None) -> Warehouse:
    catalog = f"sqlite:///{root}/catalog.db"
    return Warehouse(Location.parse(str(root)), catalog, schemas, sql_files, retention_s, comment)


def write_day(store: Warehouse, day: date, n: int) -> PublishReport:
    store.stage("events", day, events(n))
    return store.publish_day(day)


def counts_per_day(store: Warehouse, view: str = "events") -> dict[str, int]:
    with store.reader() as con:
        return dict(con.execute(f"SELECT CAST(day AS VARCHAR), count(*) FROM {view} GROUP BY ALL").fetchall())


def sql_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_polars_types_map_to_the_duckdb_types_bi_tools_read() -> None:
    assert duckdb_type(pl.Datetime("us", "UTC")) == "TIMESTAMPTZ"
    assert duckdb_type(pl.Datetime("us")) == "TIMESTAMP"
    assert duckdb_type(pl.List(pl.String)) == "VARCHAR[]"
    assert duckdb_type(pl.Struct({"a": pl.Int64, "b": pl.Boolean})) == 'STRUCT("a" BIGINT, "b" BOOLEAN)'
    assert [duckdb_type(t) for t in (pl.Int8, pl.Int32, pl.Float64, pl.Date, pl.Binary)] == [
        "TINYINT",
        "INTEGER",
        "DOUBLE",
        "DATE",
        "BLOB",
    ]
    with pytest.raises(TypeError, match="no DuckDB type"):
        duckdb_type(pl.Object)


def test_each_table_is_a_view_with_declared_types_in_declared_order_then_day(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 10)
    with duckdb.connect(str(tmp_path / DATABASE_FILE), read_only=True) as con:
        described = con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall()
        rows = con.execute("SELECT count(*), min(api_version), max(day) FROM events").fetchall()
    assert described == [
        ("request_id", "VARCHAR"),
        ("visitor_id", "VARCHAR"),
        ("suspect_score", "INTEGER"),
        ("bot", "BOOLEAN"),
        ("api_version", "TINYINT"),  # stored as an Iceberg int, shown as declared
        ("event_time", "TIMESTAMP WITH TIME ZONE"),
        ("tags", "VARCHAR[]"),
        ("day", "DATE"),
    ]
    assert rows == [(10, 3, DAY1)]


def test_a_table_never_published_is_a_typed_empty_view(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 3)
    with store.reader() as con:
        assert con.execute("SELECT count(*) FROM logged").fetchall() == [(0,)]
        assert [t for _, t in con.execute("SELECT column_name, column_type FROM (DESCRIBE logged)").fetchall()] == [
            "VARCHAR",
            "VARCHAR",
            "DATE",
        ]


def test_a_staged_day_is_invisible_until_it_is_published(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 10)
    store.stage("events", DAY1, events(4))
    store.stage("events", DAY2, events(7))
    assert counts_per_day(store) == {"2024-03-01": 10}
    assert store.read_day("events", DAY1).height == 4  # the checks see what is about to be published
    store.publish_day(DAY1)
    assert counts_per_day(store) == {"2024-03-01": 4}
    store.publish_day(DAY2)
    assert counts_per_day(store) == {"2024-03-01": 4, "2024-03-02": 7}


def test_republishing_a_day_replaces_it_and_never_duplicates_rows(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for n in (10, 12, 12, 3):
        write_day(store, DAY1, n)
    write_day(store, DAY2, 5)
    store.publish_day(DAY2)  # nothing staged: publishing again changes nothing
    assert counts_per_day(store) == {"2024-03-01": 3, "2024-03-02": 5}
    assert store.read_table("events").height == 8


def test_an_empty_day_is_published_as_empty(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 10)
    write_day(store, DAY1, 0)
    assert counts_per_day(store) == {}
    assert store.published_days("events") == [DAY1]


def test_every_table_is_an_iceberg_table_partitioned_by_day_that_other_engines_read(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 10)
    write_day(store, DAY2, 4)
    write_day(store, DAY1, 6)
    catalog = SqlCatalog("fpwh", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/lake")
    table = catalog.load_table("fpwh.events")
    assert [f.name for f in table.spec().fields] == ["day"]
    read = pl.from_arrow(table.scan().to_arrow())
    assert sorted(read.group_by("day").len().iter_rows()) == [(DAY1, 6), (DAY2, 4)]


def test_a_day_of_several_tables_becomes_visible_as_a_whole(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.stage("events", DAY1, events(10))
    store.stage("logged", DAY1, logged(10))
    store.publish_day(DAY1)
    store.stage("events", DAY1, events(20))  # a re-run has staged one table of the day...
    with store.reader() as con:
        assert con.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM logged)").fetchall() == [
            (10, 10)
        ]
    store.stage("logged", DAY1, logged(20))  # ...and the other: both appear together
    store.publish_day(DAY1)
    assert counts_per_day(store) == counts_per_day(store, "logged") == {"2024-03-01": 20}


def test_a_column_the_catalog_adds_later_reads_as_null_for_older_days(tmp_path: Path) -> None:
    write_day(open_store(tmp_path), DAY1, 2)
    wider = {**SCHEMAS, "events": pl.Schema({**EVENTS, "city": pl.String})}
    store = open_store(tmp_path, wider)
    store.stage("events", DAY2, events(1).with_columns(city=pl.lit("Oslo")))
    store.publish_day(DAY2)
    with store.reader() as con:
        rows = con.execute("SELECT CAST(day AS VARCHAR), city FROM events ORDER BY day").fetchall()
    assert rows == [("2024-03-01", None), ("2024-03-01", None), ("2024-03-02", "Oslo")]


def test_sql_files_run_in_order_and_the_meta_table_says_what_was_published(tmp_path: Path) -> None:
    first = sql_file(tmp_path, "a.sql", "CREATE VIEW bots AS SELECT * FROM events WHERE bot;")
    second = sql_file(tmp_path, "b.sql", "CREATE VIEW bot_visitors AS SELECT DISTINCT visitor_id FROM bots;")
    store = open_store(tmp_path / "wh", sql_files=[first, second])
    before = datetime.now(UTC)
    write_day(store, DAY1, 10)
    with duckdb.connect(str(store.database_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM bot_visitors").fetchall() == [(2,)]
        built_at, tables, publication = con.execute("SELECT built_at, tables, publication FROM _fpwh_meta").fetchone()
    assert built_at >= before and tables == ["events", "logged"] and publication == store.publication.latest() == 1


def test_a_broken_sql_file_fails_the_publish_and_keeps_the_previous_file(tmp_path: Path) -> None:
    good = open_store(tmp_path)
    write_day(good, DAY1, 10)
    digest = hashlib.sha256((tmp_path / DATABASE_FILE).read_bytes()).hexdigest()
    broken = sql_file(tmp_path, "broken.sql", "CREATE VIEW nope AS SELECT missing_column FROM events;")
    store = open_store(tmp_path, sql_files=[broken])
    store.stage("events", DAY1, events(3))
    with pytest.raises(PublishError, match=r"broken\.sql"):
        store.publish_day(DAY1)
    assert hashlib.sha256((tmp_path / DATABASE_FILE).read_bytes()).hexdigest() == digest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".locks"]  # no temp file left


LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipelines.storage.locks import exclusive_lock
    with exclusive_lock(Path(sys.argv[1]), 5, "hold the lock"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, cwd=REPO
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    return holder


def test_a_second_writer_of_the_duckdb_file_waits_for_the_first_and_learns_who_holds_it(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 1)
    holder = hold_lock(store.state.lock_path("publish"), 30)
    try:
        with pytest.raises(LockTimeout, match=f"held by pid {holder.pid} on "):
            store.write_database(lock_timeout_s=0.2)
    finally:
        holder.kill()
        holder.wait()
    store.write_database(lock_timeout_s=5)  # the kernel released the dead holder's lock
    with exclusive_lock(store.state.lock_path("publish"), 1, "check"):
        pass


ANALYST = textwrap.dedent(
    """
    import json, sys, duckdb
    from pathlib import Path
    database, stop, mode = sys.argv[1:4]
    per_day = (
        "SELECT CAST(e.day AS VARCHAR), e.n, e.total, coalesce(l.n, 0) FROM "
        "(SELECT day, count(DISTINCT request_id) AS n, sum(suspect_score) AS total FROM events GROUP BY day) AS e "
        "LEFT JOIN (SELECT day, count(*) AS n FROM logged GROUP BY day) AS l ON l.day = e.day"
    )
    held = duckdb.connect(database, read_only=True) if mode == "holds" else None
    while not Path(stop).exists():
        con = held or duckdb.connect(database, read_only=True)
        try:
            rows = con.execute(per_day).fetchall()
            print(json.dumps({day: [n, total, logged] for day, n, total, logged in rows}), flush=True)
        except Exception as error:
            print(json.dumps({"error": repr(error)}), flush=True)
        finally:
            if held is None:
                con.close()
    """
)


def start_analyst(root: Path, mode: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = root.parent / f"analyst-{mode}.jsonl"
    args = [sys.executable, "-c", ANALYST, str(root / DATABASE_FILE), str(root.parent / "stop"), mode]
    with open(log, "wb") as out:
        analyst = subprocess.Popen(args, stdout=out)
    return analyst, log


def observations(log: Path) -> list[dict[str, list[int]]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def wait_for_queries(log: Path, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"the analyst made fewer than {at_least} queries in 60 s")


def whole_day(n: int) -> list[int]:
    """What the analyst's query returns for a complete day of `events(n)` and `logged(n)`."""
    return [n, sum(i % 30 for i in range(n)), n]


def publish(store: Warehouse, day: date, n: int) -> None:
    store.stage("events", day, events(n))
    store.stage("logged", day, logged(n))
    store.publish_day(day)


def test_analysts_with_open_connections_never_block_a_publish_nor_see_half_a_day(tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    store = open_store(root)
    publish(store, DAY1, 40_000)
    publish(store, DAY2, 20_000)
    analysts = {mode: start_analyst(root, mode) for mode in ("holds", "reconnects")}
    for _, log in analysts.values():
        wait_for_queries(log, 1)

    for n in [30_000, 20_000] * 3 + [30_000]:  # the day is republished again and again while analysts query
        publish(store, DAY2, n)
    publish(store, DAY3, 5_000)
    publish(store, DAY1, 50_000)
    for _, log in analysts.values():
        wait_for_queries(log, len(observations(log)) + 3)
    (tmp_path / "stop").touch()

    first = {"2024-03-01": whole_day(40_000), "2024-03-02": whole_day(20_000)}
    last = {"2024-03-01": whole_day(50_000), "2024-03-02": whole_day(30_000), "2024-03-03": whole_day(5_000)}
    for mode, (analyst, log) in analysts.items():
        assert analyst.wait(timeout=30) == 0
        seen = observations(log)
        assert [s for s in seen if "error" in s] == []
        assert all(
            all(v in (whole_day(n) for n in (5_000, 20_000, 30_000, 40_000, 50_000)) for v in s.values()) for s in seen
        )
        assert seen[-1] == (first if mode == "holds" else last)


PUBLISHER = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path
    import polars as pl
    from tests.test_warehouse import events, logged, open_store
    root, day, n = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), int(sys.argv[3])
    store = open_store(root)
    for k in range(3):
        store.stage("events", day, events(n + k))
        store.stage("logged", day, logged(n + k))
        store.publish_day(day)
    print("done", flush=True)
    """
)


def test_two_processes_publishing_different_days_at_once_lose_nothing(tmp_path: Path) -> None:
    open_store(tmp_path)  # the catalog exists before the race
    runs = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER, str(tmp_path), day.isoformat(), str(n)], cwd=REPO)
        for day, n in ((DAY1, 100), (DAY2, 200), (DAY3, 300))
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0, 0]
    store = open_store(tmp_path)
    assert counts_per_day(store) == {"2024-03-01": 102, "2024-03-02": 202, "2024-03-03": 302}
    assert counts_per_day(store, "logged") == counts_per_day(store)
    assert store.read_table("events").height == 606  # and the Iceberg tables agree with the publication


def test_a_publish_killed_at_any_point_leaves_each_day_whole_and_a_rerun_completes_it(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    publish(store, DAY1, 1_000)
    for delay in (0.05, 0.3, 0.8, 1.5):
        run = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(tmp_path), DAY1.isoformat(), "5000"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        seen = counts_per_day(open_store(tmp_path))
        assert seen in ({"2024-03-01": 1_000}, *({"2024-03-01": 5_000 + k} for k in range(3)))
        assert counts_per_day(open_store(tmp_path), "logged") == seen  # never one table new and the other old
    publish(store, DAY1, 7)
    assert counts_per_day(store) == counts_per_day(store, "logged") == {"2024-03-01": 7}


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
            "SELECT table_name, comment FROM duckdb_columns() WHERE column_name = 'request_id' "
            "AND table_name IN ('bots', 'events') ORDER BY 1"
        ).fetchall(),
        "view_comment": con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'bots'").fetchall(),
    }))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("release_line", ["1.4", "1.5", "1.1"])
def test_the_published_file_opens_in_the_duckdb_versions_bi_tools_bundle(tmp_path: Path, release_line: str, old_duckdb):
    bots = sql_file(tmp_path, "bots.sql", "-- Events a bot sent.\nCREATE VIEW bots AS SELECT * FROM events WHERE bot;")
    store = open_store(tmp_path / "wh", sql_files=[bots], comment=lambda con: apply_comments(con, [bots]))
    write_day(store, DAY1, 10)
    python = old_duckdb(release_line)

    run = subprocess.run([python, "-c", OLD_DUCKDB_READER, str(store.database_path)], capture_output=True, text=True)

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["version"].startswith(f"{release_line}.")
    assert report["counts"] == [["2024-03-01", 10]]
    assert report["types"][5] == ["event_time", "TIMESTAMP WITH TIME ZONE"]
    assert report["bots"] == [[2]]
    assert report["meta"][0][0]
    request_id = WAREHOUSE_TABLES["events"].columns["request_id"]
    assert report["comments"] == [["bots", request_id], ["events", request_id]]  # COMMENT ON reads back
    assert report["view_comment"] == [["Events a bot sent."]]


def day_files(root: Path, table: str, day: date) -> list[Path]:
    """Every file in a table's folder of `day` (data files and any writer's leftovers)."""
    return sorted(p for p in (root / "lake" / "fpwh" / table / "data" / f"day={day}").iterdir() if p.is_file())


def test_a_day_republished_again_and_again_keeps_a_bounded_number_of_replaced_files(tmp_path: Path) -> None:
    store = open_store(tmp_path, retention_s=24 * 3600)
    for n in range(1, KEEP_GENERATIONS + 5):
        write_day(store, DAY1, n)
        assert counts_per_day(store) == {str(DAY1): n}
    assert len(day_files(tmp_path, "events", DAY1)) == 1 + KEEP_GENERATIONS  # the published file, then the newest
    write_day(store, DAY2, 3)
    assert len(day_files(tmp_path, "events", DAY1)) == 1 + KEEP_GENERATIONS


def test_past_the_retention_every_replaced_file_and_old_snapshot_goes_and_the_warehouse_stays_whole(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path, retention_s=3600)
    for n in (5, 6, 7):
        write_day(store, DAY1, n)
        write_day(store, DAY2, n)
    later = time.time() + 2 * 3600
    report = store.collect(["events"], [DAY1, DAY2], now=later)

    assert report.superseded_files == 4 and report.snapshots > 0
    assert [len(day_files(tmp_path, "events", d)) for d in (DAY1, DAY2)] == [1, 1]
    catalog = SqlCatalog("fpwh", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/lake")
    table = catalog.load_table("fpwh.events")
    assert len(table.metadata.snapshots) == 1  # only the current snapshot is older than nothing
    assert table.scan().to_arrow().num_rows == 14  # and other engines still read every day
    manifests = {p.name for p in (tmp_path / "lake" / "fpwh" / "events" / "metadata").glob("*.avro")}
    live = {Path(table.current_snapshot().manifest_list).name}
    live |= {Path(m.manifest_path).name for m in table.current_snapshot().manifests(table.io)}
    assert manifests == live
    assert counts_per_day(store) == {str(DAY1): 7, str(DAY2): 7}


def test_a_killed_writers_leftovers_in_a_day_folder_are_swept_once_old_enough(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 4)
    folder = tmp_path / "lake" / "fpwh" / "events" / "data" / f"day={DAY1}"
    stale_temp, stale_orphan, fresh_orphan = (
        folder / ".x.parquet.tmp",
        folder / "orphan.parquet",
        folder / "new.parquet",
    )
    for path in (stale_temp, stale_orphan, fresh_orphan):
        path.write_bytes(b"\0" * 1000)
    two_hours_ago = time.time() - 2 * 3600
    for path in (stale_temp, stale_orphan):
        os.utime(path, (two_hours_ago, two_hours_ago))

    report = write_day(store, DAY1, 5)

    assert not stale_temp.exists() and not stale_orphan.exists() and fresh_orphan.exists()
    assert (report.collected.debris_files, report.collected.debris_bytes) == (2, 2000)
    assert counts_per_day(store) == {str(DAY1): 5}


def test_killed_writers_temp_files_in_bronze_and_beside_the_database_are_swept_once_old_enough(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 4)
    bronze = tmp_path / "bronze" / "fetches" / f"day={DAY1}"
    bronze.mkdir(parents=True)
    stale = [
        bronze / ".part-x.parquet.1234.tmp",
        tmp_path / f".{DATABASE_FILE}.abcd.tmp",
        tmp_path / f".{DATABASE_FILE}.abcd.tmp.wal",
    ]
    fresh = bronze / ".part-y.parquet.5678.tmp"  # a writer still at work
    for path in (*stale, fresh):
        path.write_bytes(b"\0" * 100)
    two_hours_ago = time.time() - 2 * 3600
    for path in stale:
        os.utime(path, (two_hours_ago, two_hours_ago))

    report = write_day(store, DAY1, 5)

    assert not any(path.exists() for path in stale) and fresh.exists()
    assert (report.collected.debris_files, report.collected.debris_bytes) == (3, 300)


def test_a_truncated_lake_file_is_set_aside_and_the_rest_stays_queryable_and_publishable(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 5)
    write_day(store, DAY2, 7)
    broken = day_files(tmp_path, "events", DAY1)[0]
    broken.write_bytes(broken.read_bytes()[:-30])  # a copy cut short: the footer is gone
    with pytest.raises(duckdb.Error, match="magic bytes"):  # what every analyst query met before
        duckdb.connect().sql(f"SELECT count(*) FROM read_parquet(['{broken}'])").fetchall()

    assert counts_per_day(store) == {str(DAY2): 7}  # the reader sets it aside and reads the rest

    assert not broken.exists() and (tmp_path / "corrupt" / broken.relative_to(tmp_path)).is_file()
    assert store.marks.days() == {DAY1: {"events"}}
    write_day(store, DAY3, 2)  # other days publish
    assert counts_per_day(store) == {str(DAY2): 7, str(DAY3): 2}
    with duckdb.connect(str(tmp_path / DATABASE_FILE), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (9,)
    write_day(store, DAY1, 5)  # the day's rebuild replaces it and clears the mark
    assert counts_per_day(store) == {str(DAY1): 5, str(DAY2): 7, str(DAY3): 2} and store.marks.days() == {}


def test_a_publish_meeting_a_corrupt_file_of_another_day_names_it_and_goes_on(tmp_path: Path, caplog) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 5)
    broken = day_files(tmp_path, "events", DAY1)[0]
    broken.write_bytes(b"PAR1" + os.urandom(64))  # garbage where the footer should be

    with caplog.at_level("WARNING", logger="pipelines.storage"):
        report = write_day(store, DAY2, 7)

    assert report.rows == {"events": 7} and counts_per_day(store) == {str(DAY2): 7}
    assert f"corrupt file {broken}" in caplog.text and "marked for rebuild" in caplog.text


def test_a_published_file_deleted_by_hand_leaves_the_publication_and_its_day_is_marked(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_day(store, DAY1, 5)
    write_day(store, DAY2, 7)
    day_files(tmp_path, "events", DAY1)[0].unlink()

    assert counts_per_day(store) == {str(DAY2): 7}
    assert store.marks.days() == {DAY1: {"events"}}


def test_a_truncated_object_of_a_remote_warehouse_is_set_aside_the_same_way(tmp_path: Path, s3) -> None:
    import boto3

    store = Warehouse(Location.parse(s3.url()), f"sqlite:///{tmp_path}/catalog.db", SCHEMAS)
    write_day(store, DAY1, 5)
    write_day(store, DAY2, 7)
    objects = s3.keys()
    key = next(k for k in objects if f"/events/data/day={DAY1}/" in k and k.endswith(".parquet"))
    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3.bucket, Key=key, Body=body[: len(body) // 2])

    assert counts_per_day(store) == {str(DAY2): 7}
    objects = s3.keys()
    assert f"warehouse/corrupt/{key.removeprefix('warehouse/')}" in objects and key not in objects
    assert store.marks.days() == {DAY1: {"events"}}


def test_processes_opening_a_fresh_local_warehouse_at_once_all_open_it(tmp_path: Path) -> None:
    """Two first runs at once (`fpwh run` of two days) both create the SQLite catalog's tables: the loser of that
    race ("table ... already exists") retries and finds the winner's, instead of failing its run."""
    script = (
        "import sys\n"
        "from pipelines.settings import WarehouseSettings\n"
        "from pipelines.tables import open_warehouse\n"
        "print(open_warehouse(WarehouseSettings(directory=sys.argv[1])).published_days('events'))\n"
    )
    for attempt in range(3):  # the race is lost now and then: a few fresh warehouses give it several chances
        directory = tmp_path / f"warehouse{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(directory)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        results = [proc.communicate(timeout=300) for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * 6, [err[-1500:] for _, err in results]
