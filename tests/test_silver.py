"""Building silver from bronze: a big day flattened by worker processes, many days rebuilt one per process."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.api.results import FetchResult
from pipelines.settings import WarehouseSettings
from pipelines.silver import build_silver_day, rebuild_silver_days
from pipelines.storage.bronze import Bronze
from pipelines.storage.warehouse import Warehouse
from pipelines.tables import SILVER_TABLES, open_warehouse
from simulator.population import Population

DAYS = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]


def land_day(bronze: Bronze, population: Population, day: date, count: int) -> None:
    """`count` of the day's simulator events as `ok` fetches, v3 and v4 mixed, one body broken."""
    ids = [rid for _, rid in population.day_events(day)][:count]
    fetched_at = datetime(day.year, day.month, day.day, 23, tzinfo=UTC)
    results = []
    for i, rid in enumerate(ids):
        version = 4 if i % 5 == 0 else 3
        body = orjson.dumps(population.event_v4(rid) if version == 4 else population.event_v3(rid))
        results.append(
            FetchResult(rid, "ok", 200, None, None, 1, 10.0, fetched_at + timedelta(seconds=i), version, body=body)
        )
    results[3] = FetchResult(ids[3], "ok", 200, None, None, 1, 10.0, fetched_at, 3, body=b'{"products": {')
    bronze.append(day, results)


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Path:
    """A warehouse folder whose bronze holds three days of 240 events (the lake is empty)."""
    root = tmp_path_factory.mktemp("silver") / "landed"
    population = Population(seed=5, events_per_day=300)
    store = open_warehouse(WarehouseSettings(directory=str(root)))
    for day in DAYS:
        land_day(store.bronze, population, day, 240)
    return root


def copy_of(landed: Path, to: Path) -> Warehouse:
    shutil.copytree(landed / "bronze", to / "bronze")
    return open_warehouse(WarehouseSettings(directory=str(to)))


def staged(store: Warehouse, day: date) -> dict[str, pl.DataFrame]:
    return {name: store.read_day(name, day) for name in SILVER_TABLES}


def test_a_day_of_many_batches_flattened_by_workers_stages_what_one_process_stages(landed, tmp_path):
    parallel_store, serial_store = copy_of(landed, tmp_path / "parallel"), copy_of(landed, tmp_path / "serial")
    parallel = build_silver_day(parallel_store, DAYS[0], batch_rows=50, workers=2)
    serial = build_silver_day(serial_store, DAYS[0], batch_rows=50, workers=1)

    assert parallel == serial
    assert parallel.events_in == 240 and parallel.events_quarantined == 1
    for name, frame in staged(serial_store, DAYS[0]).items():
        assert_frame_equal(staged(parallel_store, DAYS[0])[name], frame, check_exact=True)
    assert parallel.rows["events"] == 239 and parallel.rows["velocity"] > 1000


def test_rebuilding_many_days_uses_a_process_per_day_and_reports_its_rate(landed, tmp_path):
    many = copy_of(landed, tmp_path / "many")
    rebuilt = rebuild_silver_days(WarehouseSettings(directory=str(tmp_path / "many")), DAYS, workers=2)

    assert list(rebuilt.days) == DAYS
    assert rebuilt.events_in == 3 * 240
    assert rebuilt.events_per_second == rebuilt.events_in / rebuilt.seconds > 0
    alone_store = copy_of(landed, tmp_path / "alone")
    for day in DAYS:
        alone = build_silver_day(alone_store, day, workers=1)
        assert rebuilt.days[day] == alone
        for name, frame in staged(alone_store, day).items():
            assert_frame_equal(staged(many, day)[name], frame, check_exact=True)
