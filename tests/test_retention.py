"""FPWH_RAW_RETENTION_DAYS end to end: old raw bodies go, their tables stay, and a rebuild says it cannot."""

from __future__ import annotations

import polars as pl

KEEP_ONE_DAY = {"warehouse": {"raw_retention_days": 1}, "api": {"refresh_days": 0}}


def metadata(result, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_old_raw_bodies_are_dropped_while_the_tables_built_from_them_stay(world):
    first, second = world.days
    assert world.run_day(first, **KEEP_ONE_DAY).success
    published = world.sql("SELECT * FROM events WHERE day = ? ORDER BY request_id", [first])

    result = world.run_day(second, **KEEP_ONE_DAY)

    assert result.success
    retention = metadata(result, "raw_body_retention")
    assert retention["days_dropped"] == [first.isoformat()] and retention["bodies_dropped"] == published.height
    bronze = world.store.bronze
    assert bronze.all_fetches(first).height > 0 and bronze.done_ids(first)  # never fetched again
    first_parts = [part.path for part in bronze.parts(first)]
    assert first_parts and all(
        pl.read_parquet(p)["body"].null_count() == pl.read_parquet(p).height for p in first_parts
    )
    assert world.sql("SELECT * FROM events WHERE day = ? ORDER BY request_id", [first]).equals(published)
    assert pl.concat(list(bronze.ok_bodies(second))).height > 0  # the newer day keeps its bodies


def test_rebuilding_a_day_whose_bodies_were_dropped_refuses_and_keeps_its_published_tables(world):
    first, second = world.days
    assert world.run_day(first, **KEEP_ONE_DAY).success
    assert world.run_day(second, **KEEP_ONE_DAY).success
    published = world.query("SELECT count(*), count(DISTINCT visitor_id) FROM events WHERE day = ?", [first])
    calls = world.event_calls()

    again = world.run_day(first, raise_on_error=False, **KEEP_ONE_DAY)

    assert not again.success and world.event_calls() == calls
    (failure,) = [e for e in again.all_events if e.event_type_value == "STEP_FAILURE"]
    assert f"the raw response bodies of {first} were dropped by FPWH_RAW_RETENTION_DAYS" in str(
        failure.event_specific_data.error
    )
    assert world.query("SELECT count(*), count(DISTINCT visitor_id) FROM events WHERE day = ?", [first]) == published


def test_without_a_retention_setting_nothing_is_dropped(world):
    assert world.run_day(world.days[0]).success
    result = world.run_day(world.days[1])
    assert metadata(result, "raw_body_retention") == {"raw_retention_days": "off", "bodies_dropped": 0}
    bronze = world.store.bronze
    assert pl.concat(list(bronze.ok_bodies(world.days[0])))["body"].null_count() == 0
