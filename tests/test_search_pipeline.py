"""The daily job with FPWH_FETCH_STRATEGY=search: the same warehouse rows as by_id, for far fewer API calls."""

from __future__ import annotations

import polars as pl
from dagster import DagsterInstance

from simulator.applog import write_demo_logs
from tests.test_pipeline import DAYS, run_day

DAY = DAYS[0]


def events_rows(warehouse) -> pl.DataFrame:
    return pl.read_parquet(warehouse / "lake" / "events" / f"day={DAY.isoformat()}" / "data.parquet").sort("request_id")


def raw_events_metadata(result) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "raw_events")
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_day_fetched_by_search_has_the_same_events_rows_as_by_id_for_far_fewer_calls(
    tmp_path, simulator, monkeypatch
):
    sim = simulator()
    logs = tmp_path / "logs"
    write_demo_logs(sim.population, logs, start=DAY, days=1, per_day=300)
    for k, v in {
        "FINGERPRINT_SECRET_API_KEY": sim.api_key,
        "FINGERPRINT_API_URL": sim.url,
        "FINGERPRINT_RATE_LIMIT_RPS": "200",
        "FPWH_LOG_GLOB": str(logs / "*"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(k, v)
    rows, calls, metadata = {}, {}, {}
    for strategy in ("by_id", "search"):
        monkeypatch.setenv("FPWH_FETCH_STRATEGY", strategy)
        monkeypatch.setenv("FPWH_WAREHOUSE_DIR", str(tmp_path / strategy))
        before = sim.stats()["total"]
        result = run_day(DAY, DagsterInstance.ephemeral())
        assert result.success
        calls[strategy] = sim.stats()["total"] - before
        rows[strategy] = events_rows(tmp_path / strategy)
        metadata[strategy] = raw_events_metadata(result)
        assert metadata[strategy]["api_calls"] == calls[strategy]  # the run reports what the API saw
    assert rows["search"].height > 200 and rows["search"].equals(rows["by_id"])
    assert calls["search"] * 5 < calls["by_id"]
    assert metadata["search"]["fetched_by"] == "search+by_id" and metadata["search"]["search_pages"] >= 10
    assert metadata["search"]["api_calls_per_event"] < 0.2 <= metadata["by_id"]["api_calls_per_event"]
    fetches = pl.read_parquet(tmp_path / "search" / "lake" / "fetches" / f"day={DAY.isoformat()}" / "data.parquet")
    assert fetches.filter(pl.col("method") == "search").height >= 250


def test_keep_all_adds_the_unlogged_events_once_and_a_rerun_costs_nothing(tmp_path, simulator, monkeypatch):
    sim = simulator(events_per_day=600)
    logs = tmp_path / "logs"
    write_demo_logs(sim.population, logs, start=DAY, days=1, per_day=30)
    for k, v in {
        "FINGERPRINT_SECRET_API_KEY": sim.api_key,
        "FINGERPRINT_API_URL": sim.url,
        "FINGERPRINT_RATE_LIMIT_RPS": "200",
        "FPWH_LOG_GLOB": str(logs / "*"),
        "FPWH_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "FPWH_FETCH_STRATEGY": "by_id",
    }.items():
        monkeypatch.setenv(k, v)
    assert run_day(DAY).success
    logged = events_rows(tmp_path / "warehouse")
    monkeypatch.setenv("FPWH_FETCH_STRATEGY", "search")
    monkeypatch.setenv("FPWH_SEARCH_KEEP", "all")
    assert run_day(DAY).success  # the logged events are in bronze already: search must not land them twice
    everything = events_rows(tmp_path / "warehouse")
    assert everything["request_id"].is_unique().all() and everything.height >= 580
    assert everything.filter(pl.col("request_id").is_in(logged["request_id"].to_list())).equals(logged)
    before = sim.stats()["total"]
    assert run_day(DAY).success
    assert sim.stats()["total"] == before  # the cursor says the day's window was read completely
