"""The nightly refresh end to end: labels changed upstream reach every table, view and feed within one night."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.refresh import days_to_refresh

NIGHT = date(2026, 11, 24)


def metadata(result, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def api_calls(sim) -> int:
    kinds = sim.stats()["by_kind"]
    return kinds["event"] + kinds["search"]


def rematerialized(result, day: date) -> set[str]:
    events = result.get_asset_materialization_events()
    return {e.asset_key.to_user_string() for e in events if e.partition == day.isoformat()}


def test_labels_changed_upstream_reach_the_warehouse_within_one_night_and_a_rerun_costs_nothing(world, update_event):
    first, second = world.days
    sim = world.sim
    assert world.run_day(first).success
    ids = [r[0] for r in world.query("SELECT request_id FROM events WHERE day = ? ORDER BY request_id", [first])]
    identified = "SELECT request_id FROM events WHERE day = ? AND visitor_id IS NOT NULL ORDER BY request_id"
    labelled = [r[0] for r in world.query(identified, [first])]  # an event without identification has no labels
    fraud, relinked, tagged = labelled[2], labelled[10], labelled[20]
    for rid, body in [(fraud, {"suspect": True}), (relinked, {"linkedId": "acct-real"}), (tagged, {"tag": {"c": 9}})]:
        assert update_event(sim, rid, body).status_code == 200
    before = api_calls(sim)

    result = world.run_day(second)

    assert result.success
    refresh = metadata(result, "event_refresh")
    assert refresh["days_refreshed"] == [first.isoformat()] and refresh["days_rebuilt"] == [first.isoformat()]
    assert refresh["events_changed"] == 3
    assert refresh["changed_fields"] == {"suspect": 1, "linked_id": 1, "tag": 1}
    assert api_calls(sim) - before == refresh["refresh_calls"] + metadata(result, "raw_events")["api_calls"]
    stored = world.query("SELECT min(timestamp_ms), max(timestamp_ms) FROM events WHERE day = ?", [first])[0]
    in_window = sum(1 for ts, _ in sim.population.day_events(first) if stored[0] <= ts <= stored[1])
    untimed = world.query("SELECT count(*) FROM events WHERE day = ? AND timestamp_ms IS NULL", [first])[0][0]
    assert refresh["refresh_calls"] <= math.ceil(in_window / 200) + 1 + untimed  # pages, not one call per event
    assert world.query("SELECT suspect FROM events WHERE request_id = ?", [fraud]) == [(True,)]
    assert world.query("SELECT linked_id FROM events WHERE request_id = ?", [relinked]) == [("acct-real",)]
    assert world.query("SELECT tag FROM events WHERE request_id = ?", [tagged]) == [('{"c":9}',)]
    history = world.query(
        "SELECT request_id, version, changed, is_latest FROM event_versions WHERE version > 1 ORDER BY request_id"
    )
    assert history == sorted(
        [(fraud, 2, ["suspect"], True), (relinked, 2, ["linked_id"], True), (tagged, 2, ["tag"], True)]
    )
    assert world.query("SELECT count(*) FROM event_versions WHERE day = ? AND version = 1", [first])[0][0] == len(ids)
    flagged = "SELECT request_id FROM event_versions WHERE list_contains(changed, 'suspect') AND suspect"
    assert world.query(flagged) == [(fraud,)]  # the README's label-history query
    assert {
        "events",
        "event_versions",
        "duckdb_warehouse",
        "feed_daily_traffic",
        "feed_country_risk",
    } <= rematerialized(result, first)
    assert world.query("SELECT count(*) FROM feed_daily_traffic WHERE day = ?", [first]) == [(1,)]
    order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert order.index("event_refresh") < order.index("dashboard")  # the dashboard is drawn after the rebuild

    calls = api_calls(sim)
    again = world.run_day(second)
    assert again.success and api_calls(sim) == calls
    rerun = metadata(again, "event_refresh")
    assert (rerun["refresh_calls"], rerun["days_already_refreshed"]) == (0, [first.isoformat()])


def test_an_event_deleted_upstream_is_erased_the_same_night(world, delete_upstream):
    first, second = world.days
    assert world.run_day(first).success
    gone = world.query("SELECT request_id FROM events WHERE day = ? ORDER BY request_id LIMIT 1", [first])[0][0]
    kept = world.query("SELECT count(*) FROM events WHERE day = ?", [first])[0][0] - 1
    delete_upstream(world.sim, [gone])

    result = world.run_day(second)

    refresh = metadata(result, "event_refresh")
    assert (refresh["deleted"], refresh["erased_events"], refresh["events_changed"]) == (1, 1, 0)
    assert gone not in str(refresh)  # run metadata keeps no ID of an erased event
    assert world.store.state.deleted_events().is_empty()  # erased: no longer pending
    for table in ("events", "event_versions", "fetches", "app_requests"):
        assert world.query(f"SELECT count(*) FROM {table} WHERE request_id = ?", [gone]) == [(0,)], table
    assert world.query("SELECT count(*) FROM events WHERE day = ?", [first]) == [(kept,)]
    assert gone not in world.store.bronze.all_fetches(first)["request_id"].to_list()
    audit = world.store.state.erasures()
    assert audit.select("reason", "request_ids").rows() == [("deleted_upstream", 1)]
    assert audit["erasure_id"][0] == refresh["erasure_id"]


def test_the_refresh_can_be_switched_off(world, update_event):
    first, second = world.days
    assert world.run_day(first).success
    rid = world.query("SELECT request_id FROM events WHERE day = ? LIMIT 1", [first])[0][0]
    update_event(world.sim, rid, {"suspect": True})

    result = world.run_day(second, api={"refresh_days": 0})

    assert metadata(result, "event_refresh")["refresh_calls"] == 0
    assert world.query("SELECT suspect FROM events WHERE request_id = ?", [rid]) == [(None,)]


@pytest.mark.parametrize(
    ("held", "refreshed", "todo", "done"),
    [
        ([NIGHT - timedelta(days=n) for n in range(0, 14)], {}, list(range(10, 0, -1)), []),
        ([NIGHT - timedelta(days=2)], {NIGHT - timedelta(days=2): datetime(2026, 11, 25, 2, tzinfo=UTC)}, [], [2]),
        ([NIGHT - timedelta(days=2)], {NIGHT - timedelta(days=2): datetime(2026, 11, 24, 23, tzinfo=UTC)}, [2], []),
        ([NIGHT - timedelta(days=25)], {}, [], []),
    ],
)
def test_a_night_re_reads_the_window_before_its_day_once_and_only_within_retention(held, refreshed, todo, done):
    oldest = NIGHT - timedelta(days=20)
    days, already = days_to_refresh(NIGHT, 10, held, refreshed, oldest)
    assert days == [NIGHT - timedelta(days=n) for n in todo] and already == [NIGHT - timedelta(days=n) for n in done]
