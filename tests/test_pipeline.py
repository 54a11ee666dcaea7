"""The Dagster code location end to end: real assets, real simulator over HTTP, real Parquet and DuckDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    Definitions,
    build_schedule_context,
    build_sensor_context,
    define_asset_job,
)

from pipelines.definitions import build_definitions
from pipelines.defs.automation import DAILY_JOB
from pipelines.resources import AppLogsResource, WarehouseResource
from pipelines.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_two_partitions_materialize_into_the_warehouse_and_every_check_passes(world):
    for day in world.days:
        result = world.run_day(day)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks} >= {
            "every_logged_request_id_is_accounted_for",
            "failed_fetch_rate_below_threshold",
            "events_request_ids_are_unique",
            "events_have_visitor_ids",
        }
        assert all(c.passed for c in checks if c.check_name != "no_unknown_api_fields")
    per_day = dict(world.query("SELECT day, count(*) FROM events GROUP BY day ORDER BY day"))
    assert set(per_day) == set(world.days) and all(n > 20 for n in per_day.values())
    ok, with_visitor = world.query(
        "SELECT count(*), count(visitor_id) FROM app_requests_enriched WHERE fetch_outcome = 'ok'"
    )[0]
    failed_identification = world.query("SELECT count(*) FROM product_errors WHERE product = 'identification'")
    assert ok > 0 and ok - with_visitor <= 2 * failed_identification[0][0]  # an occurrence may repeat an event
    unknown = world.query("SELECT count(*) FROM fetches_latest WHERE outcome = 'not_found'")[0][0]
    assert unknown >= len(world.days)  # the demo logs hold unknown IDs every day


def test_a_rerun_makes_no_api_call_and_duplicates_nothing(world):
    day = world.days[0]
    assert world.run_day(day).success
    before_calls = world.event_calls()
    tables = ("events", "app_requests", "velocity")
    counts = {t: world.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert world.run_day(day).success
    assert world.event_calls() == before_calls
    assert {t: world.query(f"SELECT count(*) FROM {t}")[0][0] for t in counts} == counts
    assert world.query("SELECT count(*) - count(DISTINCT request_id) FROM events")[0][0] == 0


def test_a_run_killed_mid_fetch_resumes_without_refetching_what_landed(world, simulator):
    slow = simulator(latency_ms=150)
    settings = world.settings.replace(api={"api_url": slow.url, "concurrency": 2})
    day = world.days[1].isoformat()
    dagster_home = world.root / "dagster_home"
    dagster_home.mkdir()
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines.definitions",
        "--select", "*", "--partition", day,
    ]  # fmt: skip
    env = {**os.environ, **settings.environment(), "FINGERPRINT_SECRET_API_KEY": slow.api_key}
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**env, "DAGSTER_HOME": str(dagster_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bronze_day = world.warehouse / "bronze" / "fetches" / f"day={day}"
    deadline = time.monotonic() + 180  # a loaded machine starts Dagster's step processes slowly
    while time.monotonic() < deadline and not list(bronze_day.glob("part-*.parquet")):
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and the step processes it spawned, like a crash
    proc.wait()
    landed = pl.read_parquet(list(bronze_day.glob("part-*.parquet")))
    assert landed.height > 0
    calls_before_resume = slow.stats()["by_kind"]["event"]
    assert world.run_day(world.days[1], api={"api_url": slow.url}).success
    logged = world.query("SELECT count(DISTINCT request_id) FROM app_requests WHERE day = ?", [day])[0][0]
    resumed_calls = slow.stats()["by_kind"]["event"] - calls_before_resume
    assert resumed_calls <= logged - landed["request_id"].n_unique()  # nothing that landed is fetched again
    assert world.query("SELECT count(*) - count(DISTINCT request_id) FROM events")[0][0] == 0
    assert world.query("SELECT count(*) FROM fetches_latest WHERE day = ?", [day])[0][0] == logged


def test_the_nightly_schedule_requests_yesterday(world):
    settings = world.settings.replace(schedule={"timezone": "Europe/Paris"})
    (schedule,) = build_definitions(settings).schedules
    tick = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    request = schedule(build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-11-23"


def test_the_sensor_requests_the_days_of_new_or_grown_log_files_from_stat_and_the_index(world):
    resources = {
        "app_logs": AppLogsResource(settings=world.settings.logs),
        "warehouse": WarehouseResource(settings=world.settings.warehouse),
    }
    (sensor,) = build_definitions(world.settings).sensors
    assert world.run_day(world.days[0]).success  # the run indexes every log file it had not seen
    first = sensor(build_sensor_context(resources=resources))
    assert sorted({r.partition_key for r in first.run_requests}) == [d.isoformat() for d in world.days]
    unchanged = sensor(build_sensor_context(cursor=first.cursor, resources=resources))
    assert not unchanged.run_requests
    grown = sorted((world.root / "logs").glob("*"))[-1]
    with grown.open("ab") as fh:
        fh.write(b"\n")
    written_at = datetime.combine(world.days[1], datetime.min.time(), UTC).timestamp() + 3600
    os.utime(grown, (written_at, written_at))
    again = sensor(build_sensor_context(cursor=first.cursor, resources=resources))
    assert [r.partition_key for r in again.run_requests] == [world.days[1].isoformat()]


def test_a_day_without_request_ids_or_with_many_unusable_lines_passes_with_a_warning_and_the_numbers(world):
    logfmt = world.root / "logs" / f"app-{world.days[0].isoformat()}.logfmt"
    with logfmt.open("ab") as fh:
        fh.write(b'msg="login" fpRequestId="not-an-id"\n' * 200)
    busy = world.run_day(world.days[0])
    quiet = world.run_day(world.days[0] - timedelta(days=3))
    assert busy.success and quiet.success  # a warning never stops the night
    checks = {(r.run_id, c.check_name): c for r in (busy, quiet) for c in r.get_asset_check_evaluations()}
    rejects = checks[(busy.run_id, "rejected_log_lines_below_threshold")]
    assert not rejects.passed and rejects.severity == AssetCheckSeverity.WARN
    assert rejects.metadata["unusable_lines"].value >= 200 and rejects.metadata["unusable_share"].value > 0.5
    assert checks[(busy.run_id, "day_has_logged_request_ids")].passed
    empty = checks[(quiet.run_id, "day_has_logged_request_ids")]
    assert not empty.passed and empty.severity == AssetCheckSeverity.WARN
    assert empty.metadata["distinct_request_ids"].value == 0 and empty.metadata["files_matched"].value > 0


def test_the_secret_key_appears_in_no_log_metadata_or_file(tmp_path, simulator, make_world, capfd):
    canary = "sk-canary-9f8e7d6c5b4a"
    sim = simulator(api_key=canary)
    world = make_world(sim, tmp_path, [datetime.now(UTC).date() - timedelta(days=1)], per_day=15)
    instance = DagsterInstance.ephemeral()
    result = world.run_day(world.days[0], instance)
    assert result.success
    records = instance.all_logs(result.run_id)
    assert records and all(canary not in repr(r) for r in records)
    assert canary not in repr(instance.get_run_by_id(result.run_id))
    for path in world.warehouse.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    out, err = capfd.readouterr()
    assert canary not in out + err


def test_the_demo_command_runs_end_to_end(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo",
            "--days",
            "1",
            "--per-day",
            "20",
            "--workdir",
            str(tmp_path / "demo"),
            "--warehouse",
            str(tmp_path / "warehouse"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sql/queries/daily_overview.sql" in proc.stdout
    assert "sql/queries/vpn_timezone_mismatch_users.sql" in proc.stdout
    assert (tmp_path / "warehouse" / "fingerprint.duckdb").is_file()


def test_the_demo_stops_before_starting_anything_on_a_misconfigured_variable(tmp_path):
    env = {**os.environ, "FPWH_START_DATE": "garbage"}
    proc = subprocess.run(
        [sys.executable, "-m", "demo", "--workdir", str(tmp_path / "demo"), "--warehouse", str(tmp_path / "wh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "fpwh demo: FPWH_START_DATE='garbage': Input should be a date as YYYY-MM-DD; give a date as YYYY-MM-DD, "
        "e.g. 2025-01-01"
    ]
    assert not (tmp_path / "demo").exists()


def test_group_silver_rebuilds_the_tables_from_bronze_without_any_api_call(world):
    day = world.days[0]
    assert world.run_day(day).success
    events_before = world.query("SELECT count(*), count(DISTINCT visitor_id) FROM events")[0]
    calls = world.event_calls()
    store = world.store
    store.stage("events", day, store.read_day("events", day).clear())  # the day's events lost...
    store.publish_day(day)
    assert world.query("SELECT count(*) FROM events")[0][0] == 0
    defs = build_definitions(world.settings, secret_api_key=world.sim.api_key)  # ...and rebuilt from bronze
    silver = define_asset_job("rebuild_silver", selection=AssetSelection.groups("silver", "warehouse"))
    job = Definitions.merge(defs, Definitions(jobs=[silver])).resolve_job_def("rebuild_silver")
    assert job.execute_in_process(partition_key=day.isoformat(), instance=DagsterInstance.ephemeral()).success
    assert world.event_calls() == calls
    assert world.query("SELECT count(*), count(DISTINCT visitor_id) FROM events")[0] == events_before


def test_a_failed_fetch_rate_above_the_threshold_blocks_the_silver_tables(simulator, world):
    broken = simulator(fail_5xx_rate=1.0)
    result = world.run_day(world.days[0], raise_on_error=False, api={"api_url": broken.url, "max_attempts": 1})
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["failed_fetch_rate_below_threshold"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw_events" in materialized
    assert "events" not in materialized and "duckdb_warehouse" not in materialized
    assert world.store.published_days("events") == []


def test_the_workspace_loads_every_definition_the_ui_shows():
    env = {**os.environ, "FINGERPRINT_SECRET_API_KEY": "sk-placeholder"}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    defs = build_definitions(Settings())
    assert {s.name for s in defs.schedules} == {"nightly"} and {s.name for s in defs.sensors} == {"log_file_sensor"}
    assert sorted(j.name for j in defs.jobs) == sorted([DAILY_JOB, "forget_visitors"])
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups == {"ingest", "silver", "warehouse", "analytics"}
