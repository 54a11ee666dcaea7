"""Building silver from bronze: a big day flattened by worker processes, many days rebuilt one per process."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.api.results import FetchResult
from pipelines.silver import build_silver_day, rebuild_silver_days
from pipelines.storage.bronze import Bronze
from pipelines.storage.lake import partition_path
from pipelines.tables import SILVER_TABLES
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
def bronze_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("silver") / "bronze"
    population = Population(seed=5, events_per_day=300)
    for day in DAYS:
        land_day(Bronze(root), population, day, 240)
    return root


def read_day(lake: Path, day: date) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(partition_path(lake, name, day)) for name in SILVER_TABLES}


def test_a_day_of_many_batches_flattened_by_workers_writes_what_one_process_writes(bronze_root, tmp_path):
    bronze = Bronze(bronze_root)
    parallel = build_silver_day(bronze, tmp_path / "parallel", DAYS[0], batch_rows=50, workers=2)
    serial = build_silver_day(bronze, tmp_path / "serial", DAYS[0], batch_rows=50, workers=1)

    assert parallel == serial
    assert parallel.events_in == 240 and parallel.events_quarantined == 1
    for name, frame in read_day(tmp_path / "serial", DAYS[0]).items():
        assert_frame_equal(read_day(tmp_path / "parallel", DAYS[0])[name], frame, check_exact=True)
    assert parallel.rows["events"] == 239 and parallel.rows["velocity"] > 1000


def test_rebuilding_many_days_uses_a_process_per_day_and_reports_its_rate(bronze_root, tmp_path):
    rebuilt = rebuild_silver_days(bronze_root, tmp_path / "many", DAYS, workers=2)

    assert list(rebuilt.days) == DAYS
    assert rebuilt.events_in == 3 * 240
    assert rebuilt.events_per_second == rebuilt.events_in / rebuilt.seconds > 0
    for day in DAYS:
        alone = build_silver_day(Bronze(bronze_root), tmp_path / "alone", day, workers=1)
        assert rebuilt.days[day] == alone
        for name, frame in read_day(tmp_path / "alone", day).items():
            assert_frame_equal(read_day(tmp_path / "many", day)[name], frame, check_exact=True)
