"""A mixed day through the real daily job: events pushed by webhooks, sealed in the logs, and fetched for the rest."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from dagster import DagsterInstance

from pipelines.webhooks.inbox import InboxRecord, SegmentWriter
from simulator.applog import logged_requests, write_demo_logs
from simulator.sealed import SealedLogs
from simulator.truth import day_truth
from simulator.webhooks import day_bodies, pushed_ids, send_day
from tests.conftest import World
from transforms.webhooks import identify

DAY = datetime.now(UTC).date() - timedelta(days=2)
SEALED_KEY = bytes(range(100, 132))
OLD_SEALED_KEY = bytes(range(200, 232))


def world_lines(population) -> list:
    """The lines the test's demo log holds (written with the real clock, for a day already over)."""
    return logged_requests(population, DAY, 1, 250, now_ms=int(datetime.now(UTC).timestamp() * 1000))


def raw_events_metadata(result) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "raw_events")
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.parametrize("version", [3, 4])
def test_a_mixed_day_has_every_logged_event_once_and_calls_the_api_only_for_the_rest(
    tmp_path, simulator, settings_for, webhook_receiver, version
):
    sim = simulator(events_per_day=800)
    population = sim.population
    write_demo_logs(population, tmp_path / "logs", DAY, 1, per_day=250, sealed=SealedLogs(SEALED_KEY, 0.3, version))
    settings = settings_for(sim, tmp_path, api={"api_version": version, "fetch_strategy": "by_id"})
    keys = ",".join(base64.b64encode(k).decode() for k in (OLD_SEALED_KEY, SEALED_KEY))  # mid-rotation
    world = World(sim, tmp_path, settings, [DAY], sealed_keys=keys)

    # 40 % of the day's events are pushed: most to the receiver, the last ones left in its inbox by a crash
    receiver = webhook_receiver(world.warehouse)
    pushed = pushed_ids(population, DAY, share=0.4)
    answers = send_day(population, receiver.url + "/webhook", DAY, version, ["s3cret"], share=0.3)
    assert set(answers) == {"200"}
    receiver.stop()
    writer = SegmentWriter(receiver.inbox())
    late = [(rid, body) for rid, body in day_bodies(population, pushed, version)][-40:]
    now = datetime.now(UTC)
    writer.append([InboxRecord(rid, version, identify(b).day, now, b).encode() for rid, b in late])
    writer.close()

    instance = DagsterInstance.ephemeral()
    result = world.run_day(DAY, instance)
    assert result.success
    logged = {r[0] for r in world.query("SELECT DISTINCT request_id FROM app_requests")}
    fetches = world.store.read_day("fetches", DAY)
    arrived = dict(fetches.filter(pl.col("outcome") == "ok").select("request_id", "method").iter_rows())
    free = {rid for rid in logged if arrived.get(rid) in ("webhook", "sealed")}
    methods = {arrived.get(rid) for rid in logged}
    assert {"webhook", "sealed", "by_id"} <= methods
    assert sim.stats()["by_kind"]["event"] == len(logged) - len(free)  # one call per logged ID not pushed to us
    assert len(free) > 0.4 * len(logged)

    events = world.query("SELECT request_id FROM events")
    ids = [r[0] for r in events]
    assert len(ids) == len(set(ids))  # every event once, however it arrived
    existing = {rid for rid in logged if population.exists(rid)}
    assert existing <= set(ids)
    assert set(ids) - existing <= set(pushed)  # webhooks also bring events the application did not log

    metadata = raw_events_metadata(result)
    by_arrival = metadata["logged_events_by_arrival"]
    assert by_arrival["webhook"] + by_arrival["sealed"] == len(free) and by_arrival["by_id"] > 0
    assert by_arrival["no_event"] == len(logged - existing)
    assert metadata["api_calls_per_logged_event"] == round((len(logged) - len(free)) / len(logged), 4)
    print(f"\nmixed day v{version}: {by_arrival}, api calls per logged event {metadata['api_calls_per_logged_event']}")

    for key in keys.split(","):  # the sealed keys appear in no run record, no log line, no file
        assert all(key not in repr(record) for record in instance.all_logs(result.run_id))
        assert key not in repr(instance.get_run_by_id(result.run_id))
        for path in world.warehouse.rglob("*"):
            assert not path.is_file() or key.encode() not in path.read_bytes(), path

    if version == 3:  # the day's metrics count the pushed events too, as the simulator knows them
        delivered = {rid for rid, _ in day_bodies(population, pushed_ids(population, DAY, share=0.3), 3)}
        truth = day_truth(population, world_lines(population), DAY, pushed=delivered | {rid for rid, _ in late})
        row = world.sql("FROM daily_metrics WHERE day = ?", [DAY]).row(0, named=True)
        assert {k: row[k] for k in truth.metrics} == pytest.approx(truth.metrics, rel=1e-12)

    calls = sim.stats()["total"]
    assert world.run_day(DAY).success
    assert sim.stats()["total"] == calls  # a re-run costs nothing and duplicates nothing
    assert world.query("SELECT count(*) - count(DISTINCT request_id) FROM events")[0][0] == 0
