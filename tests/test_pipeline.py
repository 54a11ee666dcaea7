"""The Dagster code location end to end: real assets, real simulator over HTTP, real Parquet and DuckDB."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import (
    AssetSelection,
    DagsterInstance,
    Definitions,
    build_schedule_context,
    build_sensor_context,
    define_asset_job,
)

from pipelines.config import PipelineEnv
from pipelines.definitions import build_definitions
from pipelines.resources import AppLogsResource
from pipelines.schedules import log_file_sensor, nightly_schedule
from simulator.applog import write_demo_logs

REPO = Path(__file__).resolve().parents[1]
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=2), TODAY - timedelta(days=1)]


@pytest.fixture
def world(tmp_path, simulator, monkeypatch):
    """A simulator, two days of demo logs, and the environment a deployment would set."""
    sim = simulator()
    logs = tmp_path / "logs"
    write_demo_logs(sim.population, logs, start=DAYS[0], days=2, per_day=40)
    env = {
        "FINGERPRINT_SECRET_API_KEY": sim.api_key,
        "FINGERPRINT_API_URL": sim.url,
        "FINGERPRINT_RATE_LIMIT_RPS": "200",
        "FPWH_FETCH_CONCURRENCY": "8",
        "FPWH_LOG_GLOB": str(logs / "*"),
        "FPWH_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return sim, tmp_path / "warehouse", env


def run_day(day, instance=None, raise_on_error=True):
    job = build_definitions(PipelineEnv.from_env()).resolve_job_def("daily_warehouse")
    return job.execute_in_process(
        partition_key=day.isoformat(), instance=instance or DagsterInstance.ephemeral(), raise_on_error=raise_on_error
    )


def event_calls(sim) -> int:
    return sim.stats()["by_kind"].get("event", 0)


def query(warehouse: Path, sql: str):
    with duckdb.connect(str(warehouse / "fingerprint.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_two_partitions_materialize_into_the_warehouse_and_every_check_passes(world):
    _sim, warehouse, _ = world
    for day in DAYS:
        result = run_day(day)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks} >= {
            "every_logged_request_id_is_accounted_for",
            "failed_fetch_rate_below_threshold",
            "events_request_ids_are_unique",
            "events_have_visitor_ids",
        }
        assert all(c.passed for c in checks if c.check_name != "no_unknown_api_fields")
    per_day = dict(query(warehouse, "SELECT day, count(*) FROM events GROUP BY day ORDER BY day"))
    assert set(per_day) == set(DAYS) and all(n > 20 for n in per_day.values())
    ok, with_visitor = query(
        warehouse, "SELECT count(*), count(visitor_id) FROM app_requests_enriched WHERE fetch_outcome = 'ok'"
    )[0]
    failed_identification = query(warehouse, "SELECT count(*) FROM product_errors WHERE product = 'identification'")
    assert ok > 0 and ok - with_visitor <= 2 * failed_identification[0][0]  # an occurrence may repeat an event
    assert query(warehouse, "SELECT count(*) FROM fetches_latest WHERE outcome = 'not_found'")[0][0] >= 0


def test_a_rerun_makes_no_api_call_and_duplicates_nothing(world):
    sim, warehouse, _ = world
    assert run_day(DAYS[0]).success
    before_calls = event_calls(sim)
    counts = {t: query(warehouse, f"SELECT count(*) FROM {t}")[0][0] for t in ("events", "app_requests", "velocity")}
    assert run_day(DAYS[0]).success
    assert event_calls(sim) == before_calls
    assert {t: query(warehouse, f"SELECT count(*) FROM {t}")[0][0] for t in counts} == counts
    assert query(warehouse, "SELECT count(*) - count(DISTINCT request_id) FROM events")[0][0] == 0


def test_a_run_killed_mid_fetch_resumes_without_refetching_what_landed(world, simulator, monkeypatch):
    _, warehouse, _env = world
    slow = simulator(latency_ms=150)
    monkeypatch.setenv("FINGERPRINT_API_URL", slow.url)
    monkeypatch.setenv("FPWH_FETCH_CONCURRENCY", "2")
    day = DAYS[1].isoformat()
    dagster_home = warehouse.parent / "dagster_home"
    dagster_home.mkdir()
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines.definitions",
        "--select", "*", "--partition", day,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bronze_day = warehouse / "bronze" / "fetches" / f"day={day}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(bronze_day.glob("part-*.parquet")):
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and the step processes it spawned, like a crash
    proc.wait()
    landed = pl.read_parquet(list(bronze_day.glob("part-*.parquet")))
    assert landed.height > 0
    calls_before_resume = event_calls(slow)
    assert run_day(DAYS[1]).success
    logged = query(warehouse, f"SELECT count(DISTINCT request_id) FROM app_requests WHERE day = '{day}'")[0][0]
    resumed_calls = event_calls(slow) - calls_before_resume
    assert resumed_calls <= logged - landed["request_id"].n_unique()  # nothing that landed is fetched again
    assert query(warehouse, "SELECT count(*) - count(DISTINCT request_id) FROM events")[0][0] == 0
    final = query(warehouse, f"SELECT count(*) FROM fetches_latest WHERE day = '{day}'")[0][0]
    assert final == logged


def test_the_nightly_schedule_requests_yesterday(world):
    schedule = nightly_schedule(PipelineEnv(schedule_timezone="Europe/Paris"))
    tick = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    request = schedule(build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-11-23"


def test_the_sensor_requests_the_days_of_new_or_grown_log_files(world):
    _, _, env = world
    logs = AppLogsResource(glob=env["FPWH_LOG_GLOB"])
    first = log_file_sensor(build_sensor_context(resources={"app_logs": logs}))
    assert sorted({r.partition_key for r in first.run_requests}) == [d.isoformat() for d in DAYS]
    unchanged = log_file_sensor(build_sensor_context(cursor=first.cursor, resources={"app_logs": logs}))
    assert not getattr(unchanged, "run_requests", None)
    grown = sorted(Path(env["FPWH_LOG_GLOB"][:-2]).glob("*"))[-1]
    with grown.open("ab") as fh:
        fh.write(b"")
    os.utime(grown, (time.time() + 5, time.time() + 5))
    again = log_file_sensor(build_sensor_context(cursor=first.cursor, resources={"app_logs": logs}))
    assert again.run_requests


def test_the_secret_key_appears_in_no_log_metadata_or_file(tmp_path, simulator, monkeypatch, capfd):
    canary = "sk-canary-9f8e7d6c5b4a"
    sim = simulator(api_key=canary)
    logs = tmp_path / "logs"
    write_demo_logs(sim.population, logs, start=DAYS[1], days=1, per_day=15)
    for k, v in {
        "FINGERPRINT_SECRET_API_KEY": canary,
        "FINGERPRINT_API_URL": sim.url,
        "FINGERPRINT_RATE_LIMIT_RPS": "200",
        "FPWH_LOG_GLOB": str(logs / "*"),
        "FPWH_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
    }.items():
        monkeypatch.setenv(k, v)
    instance = DagsterInstance.ephemeral()
    result = run_day(DAYS[1], instance)
    assert result.success
    records = instance.all_logs(result.run_id)
    assert records and all(canary not in repr(r) for r in records)
    assert canary not in repr(instance.get_run_by_id(result.run_id))
    for path in (tmp_path / "warehouse").rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    out, err = capfd.readouterr()
    assert canary not in out + err


def test_the_demo_command_runs_end_to_end(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.demo",
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


def test_group_silver_rebuilds_the_tables_from_bronze_without_any_api_call(world):
    sim, warehouse, _ = world
    assert run_day(DAYS[0]).success
    events_before = query(warehouse, "SELECT count(*), count(DISTINCT visitor_id) FROM events")[0]
    calls = event_calls(sim)
    shutil.rmtree(warehouse / "lake" / "events")
    defs = build_definitions(PipelineEnv.from_env())
    silver = define_asset_job("rebuild_silver", selection=AssetSelection.groups("silver", "warehouse"))
    job = Definitions.merge(defs, Definitions(jobs=[silver])).resolve_job_def("rebuild_silver")
    assert job.execute_in_process(partition_key=DAYS[0].isoformat(), instance=DagsterInstance.ephemeral()).success
    assert event_calls(sim) == calls
    assert query(warehouse, "SELECT count(*), count(DISTINCT visitor_id) FROM events")[0] == events_before


def test_a_failed_fetch_rate_above_the_threshold_blocks_the_silver_tables(tmp_path, simulator, monkeypatch, world):
    _, warehouse, _ = world
    broken = simulator(fail_5xx_rate=1.0)
    monkeypatch.setenv("FINGERPRINT_API_URL", broken.url)
    monkeypatch.setenv("FPWH_FETCH_MAX_ATTEMPTS", "1")
    result = run_day(DAYS[0], raise_on_error=False)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["failed_fetch_rate_below_threshold"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw_events" in materialized
    assert "events" not in materialized and "duckdb_warehouse" not in materialized
    assert not (warehouse / "lake" / "events").exists()


def test_the_workspace_loads_every_definition_the_ui_shows():
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    defs = build_definitions(PipelineEnv())
    assert {s.name for s in defs.schedules} == {"nightly"} and {s.name for s in defs.sensors} == {"log_file_sensor"}
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups == {"ingest", "silver", "warehouse", "analytics"}
