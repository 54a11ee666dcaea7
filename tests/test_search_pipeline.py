"""The daily job with FPWH_FETCH_STRATEGY=search: the same warehouse rows as by_id, for far fewer API calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

DAY = datetime.now(UTC).date() - timedelta(days=2)


def events_rows(world) -> pl.DataFrame:
    return world.store.read_day("events", DAY).drop("day").sort("request_id")


def raw_events_metadata(result) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "raw_events")
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_day_fetched_by_search_has_the_same_events_rows_as_by_id_for_far_fewer_calls(tmp_path, simulator, make_world):
    sim = simulator()
    rows, calls, metadata = {}, {}, {}
    for strategy in ("by_id", "search"):
        world = make_world(sim, tmp_path / strategy, [DAY], per_day=300, api={"fetch_strategy": strategy})
        before = sim.stats()["total"]
        result = world.run_day(DAY)
        assert result.success
        calls[strategy] = sim.stats()["total"] - before
        rows[strategy] = events_rows(world)
        metadata[strategy] = raw_events_metadata(result)
        assert metadata[strategy]["api_calls"] == calls[strategy]  # the run reports what the API saw
    assert rows["search"].height > 200 and rows["search"].equals(rows["by_id"])
    assert calls["search"] * 5 < calls["by_id"]
    assert metadata["search"]["fetched_by"] == "search+by_id" and metadata["search"]["search_pages"] >= 10
    assert metadata["search"]["api_calls_per_event"] < 0.2 <= metadata["by_id"]["api_calls_per_event"]
    fetches = world.store.read_day("fetches", DAY)
    assert fetches.filter(pl.col("method") == "search").height >= 250


def test_keep_all_adds_the_unlogged_events_once_and_a_rerun_costs_nothing(tmp_path, simulator, make_world):
    sim = simulator(events_per_day=600)
    world = make_world(sim, tmp_path, [DAY], per_day=30, api={"fetch_strategy": "by_id"})
    assert world.run_day(DAY).success
    logged = events_rows(world)
    search_all = {"fetch_strategy": "search", "search_keep": "all"}
    assert world.run_day(DAY, api=search_all).success  # the logged events are in bronze: never landed twice
    everything = events_rows(world)
    assert everything["request_id"].is_unique().all() and everything.height >= 580
    assert everything.filter(pl.col("request_id").is_in(logged["request_id"].to_list())).equals(logged)
    before = sim.stats()["total"]
    assert world.run_day(DAY, api=search_all).success
    assert sim.stats()["total"] == before  # the cursor says the day's window was read completely
