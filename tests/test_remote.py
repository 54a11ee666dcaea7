"""Remote mode against the real things: an `s3://` warehouse in an S3-compatible server (moto) and a PostgreSQL
catalog, the simulator over HTTP, real Dagster runs and processes (issue 13 §4)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import World


@pytest.fixture
def remote_world(world: World, s3, postgres_url: str) -> World:
    """The two-day `world`, its warehouse in the bucket and its catalog in a fresh PostgreSQL database."""
    world.settings = world.settings.replace(warehouse={"directory": s3.url(), "catalog_url": postgres_url})
    return world


def events_per_id(world: World, day: date) -> tuple[int, int, int]:
    """(rows, distinct request IDs) of `events` on `day`, and the distinct IDs logged that day."""
    with world.store.reader() as con:
        rows, distinct = con.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM events WHERE day = ?", [day]
        ).fetchone()
        logged_ok = con.execute(
            "SELECT count(DISTINCT request_id) FROM fetches_latest WHERE day = ? AND outcome = 'ok'", [day]
        ).fetchone()[0]
    return rows, distinct, logged_ok


def test_the_daily_job_lands_every_event_once_in_the_bucket_and_a_rerun_makes_no_call(remote_world: World, s3):
    world = remote_world
    for day in world.days:
        assert world.run_day(day).success
    for day in world.days:
        rows, distinct, ok = events_per_id(world, day)
        assert rows == distinct == ok > 0
    assert not (world.root / "warehouse").exists()
    assert any(key.endswith(".parquet") for key in s3.keys("warehouse/"))
    calls = world.event_calls()
    assert world.run_day(world.days[0]).success
    assert world.event_calls() == calls
