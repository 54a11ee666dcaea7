"""Incomplete days are visible and finished by later runs: `day_completeness`, the `day_is_complete` check and the
`failed_fetch_retry` asset, against a simulator whose 5xx rate is then cleared."""

from __future__ import annotations

from datetime import date, timedelta

from dagster import AssetKey

from pipelines.retry import incomplete_days, oldest_retained
from tests.conftest import TODAY

FLAKY = {"max_attempts": 1, "fetch_strategy": "by_id", "refresh_days": 0}  # the refresh spends calls of its own


def _truth(world, day: date) -> dict[str, int]:
    """What a fault-free fetch must end with: the logged IDs the simulated workspace has, and the others."""
    logged = {r[0] for r in world.query("SELECT DISTINCT request_id FROM app_requests WHERE day = ?", [day])}
    exists = sum(world.sim.population.exists(rid) for rid in logged)
    return {"logged_ids": len(logged), "ok": exists, "not_found": len(logged) - exists}


def _completeness(world, day: date) -> dict[str, object]:
    frame = world.sql("SELECT * FROM day_completeness WHERE day = ?", [day])
    return frame.drop("day").row(0, named=True)


def _metadata(result, asset: str) -> dict:
    found = [m for m in result.asset_materializations_for_node(asset) if m.asset_key == AssetKey(asset)]
    return {name: value.value for name, value in found[0].metadata.items()}


def _check(result, name: str = "day_is_complete"):
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert len(evaluations) == 1
    return evaluations[0]


def test_a_day_with_failed_fetches_is_marked_incomplete_and_a_later_run_finishes_it(
    tmp_path, simulator, make_world
) -> None:
    days = [TODAY - timedelta(days=2), TODAY - timedelta(days=1)]
    faulty = simulator(seed=3, fail_5xx_rate=0.3)
    world = make_world(faulty, tmp_path, days, per_day=40, api=FLAKY, schedule={"max_failed_rate": 1.0})
    first = world.run_day(days[0])

    seen = _completeness(world, days[0])
    truth = _truth(world, days[0])
    assert seen["failed"] > 0 and seen["complete"] is False
    assert seen["logged_ids"] == truth["logged_ids"] == seen["ok"] + seen["not_found"] + seen["failed"]
    check = _check(first)
    assert not check.passed
    assert (
        check.metadata["failed"].value == seen["failed"] and check.metadata["logged_ids"].value == truth["logged_ids"]
    )
    assert incomplete_days(world.store, days[1], oldest_retained(30)) == [days[0]]

    clean = simulator(seed=3)
    world.sim = clean  # the same workspace, its outage over
    open_before = seen["failed"] + seen["pending"]
    second = world.run_day(days[1], api={**FLAKY, "api_url": clean.url})

    assert _completeness(world, days[0]) == {**truth, "failed": 0, "pending": 0, "complete": True}
    events = world.query("SELECT count(*), count(DISTINCT request_id) FROM events WHERE day = ?", [days[0]])[0]
    assert events == (truth["ok"], truth["ok"])  # every event of the finished day, once
    retry = _metadata(second, "failed_fetch_retry")
    assert retry["incomplete_days"] == [days[0].isoformat()] and retry["days_rebuilt"] == [days[0].isoformat()]
    assert retry["ids_retried"] == open_before
    # by ID: one call per open ID of the first day, nothing for the IDs it already had
    own_day = _metadata(second, "raw_events")["api_calls"]
    assert retry["retry_api_calls"] == open_before
    assert clean.stats()["by_kind"].get("event", 0) == own_day + open_before
    assert _check(second).passed


def test_a_complete_history_costs_the_retry_no_call(world) -> None:
    world.run_day(world.days[0])
    world.sim.reset_stats()
    result = world.run_day(world.days[1])
    retry = _metadata(result, "failed_fetch_retry")
    assert retry["incomplete_days"] == [] and retry["retry_api_calls"] == 0
    assert _completeness(world, world.days[0])["complete"] is True
