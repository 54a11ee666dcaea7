"""The right to erasure: a visitor planted across days and tables is forgotten, and no file keeps a trace of it.

The scan decodes what it reads (Parquet rows and column statistics, Avro manifests, JSON metadata, the SQLite
catalog, the DuckDB file's catalog, text files) instead of grepping compressed bytes, and looks for the visitor
ID (and the 16-character prefix Iceberg keeps as a truncated column bound), its request IDs and the IPs only it
used. Every other visitor's rows must be exactly as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pyarrow.parquet as pq
import pytest
import requests
from dagster import DagsterInstance
from pyiceberg.avro.file import AvroFile
from pyiceberg.io.pyarrow import PyArrowFileIO

from pipelines.definitions import build_definitions
from pipelines.erasure import EVENT_TABLES, forget_visitors, visitor_digest
from pipelines.feeds import build_feeds
from pipelines.tables import open_warehouse
from simulator.server import SimulatorConfig, start
from tests.conftest import TODAY, build_world

REPO = Path(__file__).resolve().parents[1]
DAYS = [TODAY - timedelta(days=3), TODAY - timedelta(days=2), TODAY - timedelta(days=1)]
# Tables compared before/after: every event table and the app tables (feeds are recomputed, so compared apart).
COMPARED = (*EVENT_TABLES, "log_rejects")


def _strings(value: object) -> Iterable[str]:
    """Every string inside a decoded value (bytes decoded leniently), recursively."""
    if value is None:
        return
    if isinstance(value, bytes | bytearray):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple | set):
        for v in value:
            yield from _strings(v)
    else:
        yield repr(value)


def _parquet(path: Path) -> Iterable[str]:
    file = pq.ParquetFile(path)
    yield from _strings(file.read().to_pylist())
    meta = file.metadata
    yield from _strings({k: v for k, v in (meta.metadata or {}).items()})
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            stats = meta.row_group(g).column(c).statistics
            if stats is not None and stats.has_min_max:
                yield from _strings([stats.min, stats.max])


def _avro(path: Path) -> Iterable[str]:
    with AvroFile(PyArrowFileIO().new_input(str(path))) as avro:
        yield from _strings(dict(avro.header.meta))
        for record in avro:
            yield repr(record)


def _sqlite(path: Path) -> Iterable[str]:
    """Every row of every table, read from a copy (with its write-ahead log): opening the live file beside this
    process's own connections can fail with a spurious I/O error."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        with contextlib.closing(sqlite3.connect(copy)) as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows = [con.execute(f'SELECT * FROM "{table}"').fetchall() for table in tables]
    return list(_strings(rows))


def _duckdb(path: Path) -> Iterable[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        yield from _strings(con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall())
        yield from _strings(con.execute("SELECT comment FROM duckdb_columns() WHERE comment IS NOT NULL").fetchall())
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            yield from _strings(con.execute(f'SELECT * FROM "{table}"').fetchall())


def decoded(path: Path) -> Iterable[str]:
    """The text content of one warehouse file, decoded by its format."""
    name = path.name
    if name.endswith(".parquet"):
        return _parquet(path)
    if name.endswith(".avro"):
        return _avro(path)
    if name.endswith(".duckdb"):
        return _duckdb(path)
    if name.endswith(".db"):  # its rows, and its raw pages (uncompressed: deleted rows left in free space show)
        return [*_sqlite(path), path.read_bytes().decode("utf-8", "replace")]
    if name.endswith(".json"):
        return _strings(orjson.loads(path.read_bytes()))
    return [path.read_bytes().decode("utf-8", "replace")]


def scan(root: Path, needles: set[str]) -> dict[str, set[str]]:
    """file -> the needles found in it, over every file below `root` (the catalog database included)."""
    hits: dict[str, set[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(("-wal", "-shm", "-journal", ".lock")) and not path.stat().st_size:
            continue
        text = "\n".join(decoded(path))
        found = {n for n in needles if n in text}
        if found:
            hits[str(path.relative_to(root))] = found
    return hits


def frames(store, tables: Iterable[str]) -> dict[str, pl.DataFrame]:
    return {t: store.read_table(t) for t in tables}


def without(frame: pl.DataFrame, ids: set[str]) -> pl.DataFrame:
    """`frame`'s rows that do not belong to the events `ids` (a log reject belongs to the IDs its excerpt quotes)."""
    if "request_id" in frame.columns:
        frame = frame.filter(~pl.col("request_id").is_in(sorted(ids)))
    if "excerpt" in frame.columns:
        frame = frame.filter(~pl.any_horizontal([pl.col("excerpt").str.contains(i, literal=True) for i in ids]))
    return frame.sort(frame.columns, nulls_last=True)


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory):
    """Three days through the real daily job, against one simulator (module-wide: each test forgets another visitor)."""
    root = tmp_path_factory.mktemp("forget")
    with start(SimulatorConfig(seed=7, port=0)) as sim:
        world = build_world(sim, root, DAYS, per_day=20)
        for index in (0, 1):
            _plant_visitor(sim.population, index, root / "logs")
        for day in DAYS:
            assert world.run_day(day).success
        yield world


def _plant_visitor(population, index: int, logs: Path) -> None:
    """Log three events a day of the population's visitor `index` (a returning one), one of them also in a line the
    log reader rejects (its excerpt quotes the request ID)."""
    visitor = population.visitor(index).visitor_id
    for day in DAYS:
        ids = [rid for _, rid in population.day_events(day) if population.facts(rid).visitor_id == visitor][:3]
        lines = [orjson.dumps({"requestId": rid, "user": f"planted{index}"}) for rid in ids]
        lines.append(b'{"requestId": "' + ids[0].encode() + b'", "user": broken')
        (logs / f"planted{index}-{day.isoformat()}.log").write_bytes(b"".join(line + b"\n" for line in lines))


def _visitor_on_most_days(world) -> str:
    rows = world.query(
        "SELECT visitor_id FROM events WHERE visitor_id IS NOT NULL GROUP BY 1 "
        "ORDER BY count(DISTINCT day) DESC, count(*) DESC, visitor_id LIMIT 1"
    )
    return rows[0][0]


def _traces(world, visitor: str) -> tuple[set[str], set[str]]:
    """(request IDs, IPs used by this visitor only) as the warehouse holds them before the erasure."""
    ids = {r[0] for r in world.query("SELECT request_id FROM events WHERE visitor_id = ?", [visitor])}
    own = {
        r[0] for r in world.query("SELECT DISTINCT ip FROM events WHERE visitor_id = ? AND ip IS NOT NULL", [visitor])
    }
    shared = {
        r[0] for r in world.query("SELECT DISTINCT ip FROM events WHERE visitor_id IS DISTINCT FROM ?", [visitor])
    }
    return ids, own - shared


def test_a_forgotten_visitor_leaves_no_trace_in_any_file_and_everyone_else_is_unchanged(three_days):
    world = three_days
    store = open_warehouse(world.settings.warehouse)
    visitor = _visitor_on_most_days(world)
    ids, ips = _traces(world, visitor)
    days = {r[0] for r in world.query("SELECT DISTINCT day FROM events WHERE visitor_id = ?", [visitor])}
    assert len(days) >= 2 and ids and ips  # planted across several days, with an IP of its own
    assert world.query("SELECT count(*) FROM app_requests WHERE request_id IN (SELECT unnest(?))", [sorted(ids)])[0][0]
    needles = {visitor, visitor[:16], *ids, *ips}
    assert scan(world.warehouse, needles)  # the scan does find them before
    before = frames(store, COMPARED)
    # a fetch queue and an upstream deletion naming one of its events: state rows to scrub
    store.state.set_fetch_queue(DAYS[0], [*sorted(ids)[:1], "keep-me"])

    report = forget_visitors(store, [visitor], log=lambda _: None)

    assert report.request_ids == len(ids) and set(report.days) == days
    assert report.rows["log_rejects"] >= len(DAYS)  # at least the planted broken lines quoting one of its IDs
    assert report.rows["events"] == len(ids) and report.rows["bronze"] >= len(ids)
    assert report.rows["fpwh_fetch_queue"] >= 1 and store.state.fetch_queue(DAYS[0]) == ["keep-me"]
    assert scan(world.warehouse, needles) == {}
    after = frames(store, COMPARED)
    for table in COMPARED:
        assert without(after[table], ids).equals(without(before[table], ids)), table
        if "request_id" in after[table].columns:
            assert not after[table].filter(pl.col("request_id").is_in(sorted(ids))).height, table
    assert world.query("SELECT count(*) FROM events WHERE visitor_id = ?", [visitor]) == [(0,)]
    traffic = world.query("SELECT sum(events) FROM feed_daily_traffic")[0][0]
    assert traffic == world.query("SELECT count(*) FROM events")[0][0]  # the feeds were recomputed
    audit = store.state.erasures().tail(1)
    assert audit["visitor_sha256"][0].to_list() == [visitor_digest(visitor)]
    assert audit["request_ids"][0] == len(ids) and not audit["api_called"][0]
    assert orjson.loads(audit["rows"][0])["events"] == len(ids)

    again = forget_visitors(store, [visitor], log=lambda _: None)  # idempotent: nothing left to find
    assert again.request_ids == 0 and not again.days

    # the application logs still name its events: a re-run of its day neither fetches them nor keeps their lines
    rerun = world.run_day(max(days))
    assert rerun.success and scan(world.warehouse, needles) == {}
    (logged,) = rerun.asset_materializations_for_node("app_log_occurrences")
    assert logged.metadata["erased_request_ids_skipped"].value > 0


def test_forget_with_api_deletes_upstream_and_the_job_does_the_same(three_days, tmp_path):
    world = three_days
    sim = world.sim
    store = open_warehouse(world.settings.warehouse)
    visitor = _visitor_on_most_days(world)
    ids, _ = _traces(world, visitor)
    headers = {"Auth-API-Key": sim.api_key}
    recent = [rid for rid in ids if requests.get(f"{sim.url}/events/{rid}", headers=headers, timeout=5).ok]
    assert recent
    before = sim.stats()["by_kind"].get("visitor_delete", 0)

    defs = build_definitions(world.settings, secret_api_key=sim.api_key)
    job = defs.resolve_job_def("forget_visitors")
    config = {"ops": {"forget_visitors_op": {"config": {"visitor_ids": [visitor], "api": True}}}}
    result = job.execute_in_process(run_config=config, instance=DagsterInstance.ephemeral())

    assert result.success
    assert sim.stats()["by_kind"]["visitor_delete"] == before + 1
    for rid in recent:  # the simulator forgot them: a re-fetch cannot bring them back
        assert requests.get(f"{sim.url}/events/{rid}", headers=headers, timeout=5).status_code == 404
    metadata = {
        k: v.value
        for e in result.all_events
        if e.is_successful_output
        for k, v in e.event_specific_data.metadata.items()
    }
    assert metadata["api_called"] is True and metadata["api_outcomes"] == {"ok": 1}
    assert metadata["request_ids"] == len(ids)
    assert world.query("SELECT count(*) FROM events WHERE visitor_id = ?", [visitor]) == [(0,)]
    assert store.state.erasures()["api_called"].to_list()[-1] is True


def test_an_erasure_interrupted_after_bronze_is_finished_by_running_it_again(three_days):
    world = three_days
    store = open_warehouse(world.settings.warehouse)
    visitor = _visitor_on_most_days(world)
    ids, ips = _traces(world, visitor)
    needles = {visitor, visitor[:16], *ids, *ips}
    # a crash right after step 1: bronze was rewritten, the lake still holds the rows, and one old bronze part
    # survived its delete (the rewrite had written the new file first)
    day = max(store.bronze.days())
    survivor = next(p for p in store.bronze.parts(day) if store.bronze.request_ids_holding(day, [visitor]))
    kept = (world.warehouse / survivor.path).read_bytes()
    for d in store.bronze.days():
        store.bronze.erase(d, ids)
    (world.warehouse / survivor.path).write_bytes(kept)
    assert world.query("SELECT count(*) FROM events WHERE visitor_id = ?", [visitor]) == [(len(ids),)]

    report = forget_visitors(store, [visitor], log=lambda _: None)

    assert report.request_ids == len(ids) and report.rows["events"] == len(ids)
    assert scan(world.warehouse, needles) == {}


def test_the_command_validates_first_then_erases_and_prints_counts_only(three_days, tmp_path):
    world = three_days
    env = {
        **{k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ},
        **world.settings.environment(),
        "FINGERPRINT_SECRET_API_KEY": world.sim.api_key,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }

    def fpwh(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pipelines.cli", "forget-visitor", *args]
        return subprocess.run(command, cwd=REPO, env={**env, **extra}, capture_output=True, text=True, timeout=300)

    bad = fpwh("two words", "", FPWH_START_DATE="garbage")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("fpwh: ") for line in lines)
    assert "FPWH_START_DATE" in lines[0] and "'two words'" in lines[1]
    audits = open_warehouse(world.settings.warehouse).state.erasures().height

    visitor = _visitor_on_most_days(world)
    ids, _ = _traces(world, visitor)
    done = fpwh(visitor)
    assert done.returncode == 0, done.stderr
    assert f"request_ids      {len(ids)}" in done.stdout
    assert visitor not in done.stdout + done.stderr and not any(rid in done.stdout + done.stderr for rid in ids)
    assert world.query("SELECT count(*) FROM events WHERE visitor_id = ?", [visitor]) == [(0,)]
    assert (
        open_warehouse(world.settings.warehouse).state.erasures().height == audits + 1
    )  # the refused run erased nothing


@pytest.mark.parametrize("version", [3, 4])
def test_the_client_deletes_a_visitor_upstream_in_both_versions(simulator, api_client, version):
    sim = simulator(seed=3)
    population = sim.population
    rid = population.day_events(TODAY - timedelta(days=1))[0][1]
    visitor = population.facts(rid).visitor_id
    with api_client(sim, api_version=version) as client:
        assert client.fetch_event(rid).outcome == "ok"
        deleted = client.delete_visitor(visitor)
        refused = client.delete_visitor("not a visitor id")
        assert (deleted.outcome, deleted.status) == ("ok", 200)
        assert (refused.outcome, refused.status, refused.error_code) == (
            "failed",
            400,
            "RequestCannotBeParsed" if version == 3 else "request_cannot_be_parsed",
        )
        assert client.fetch_event(rid).outcome == "not_found"
    assert sim.stats()["by_kind"]["visitor_delete"] == 2


def test_an_erasure_killed_before_its_clean_up_is_cleaned_up_by_the_next_one(three_days):
    world = three_days
    store = open_warehouse(world.settings.warehouse)
    visitor = _visitor_on_most_days(world)
    ids, ips = _traces(world, visitor)
    needles = {visitor, visitor[:16], *ids, *ips}
    days = sorted({r[0] for r in world.query("SELECT DISTINCT day FROM events WHERE visitor_id = ?", [visitor])})
    # what a killed erasure leaves: its audit row started, state, bronze and the days rewritten, no clean-up yet (the
    # replaced files and the old snapshots still hold the visitor)
    audit = {"erased_at": 0.0, "reason": "forget_visitor", "visitor_sha256": [], "request_ids": len(ids)}
    killed = store.state.begin_erasure(
        {**audit, "days": [d.isoformat() for d in days], "rows": {}, "api_called": False, "api_outcomes": {}}
    )
    store.state.erase_request_ids(ids)
    for day in store.bronze.days():
        store.bronze.erase(day, ids)
    for day in days:
        for table in COMPARED:
            if store.publication.day_files(table, day):
                store.stage(table, day, without(store.read_day(table, day), ids).drop("day"))
        store.publish_day(day, derive=lambda con, day=day: build_feeds(con, day))
    assert world.query("SELECT count(*) FROM events WHERE visitor_id = ?", [visitor]) == [(0,)]
    assert scan(world.warehouse, {visitor}) != {}  # still in the replaced files

    report = forget_visitors(store, [visitor], log=lambda _: None)

    assert report.request_ids == 0  # nothing left to find, but the clean-up was finished
    assert scan(world.warehouse, needles) == {}
    statuses = dict(store.state.erasures().select("erasure_id", "status").rows())
    assert statuses[killed] == statuses[report.erasure_id] == "done"
