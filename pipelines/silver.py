"""Build silver tables from bronze: stream raw bodies, flatten, stage one data file per table and day.

Memory stays flat as a day grows: bodies are read in batches, each batch is flattened (in worker processes when
the day has more than one batch, `pipelines.flatten_pool`) and appended to one streaming data file per table,
and the day's files are staged (recorded for the day's publish) only when the whole day succeeded. Rebuilding
many days runs one day per process, so every core flattens and encodes Parquet. No API call is made here: silver
can always be rebuilt from bronze.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from pipelines.flatten_pool import BodyBatch, FlatBatch, default_workers, flatten_batches, worker_pool
from pipelines.settings import WarehouseSettings
from pipelines.storage.lake import StagingWriter
from pipelines.storage.warehouse import Warehouse
from pipelines.tables import SILVER_TABLES, WAREHOUSE_TABLES, open_warehouse


@dataclass
class SilverReport:
    """What building a day produced, for run metadata and checks."""

    rows: dict[str, int] = field(default_factory=dict)
    unknown_fields: Counter[str] = field(default_factory=Counter)
    events_in: int = 0
    events_quarantined: int = 0
    values_quarantined: int = 0


def build_silver_day(
    warehouse: Warehouse,
    day: date,
    batch_rows: int = 2_500,
    workers: int | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> SilverReport:
    """Flatten every final `ok` body of `day` into the silver tables and stage them for the day's publish.

    A day of more than one batch is flattened by `workers` processes (default: all cores; `pool` to share a
    running pool); a smaller day in this process, where starting workers would cost more than it saves.
    Batches of 2,500 events keep the whole process tree under 0.7 GB whatever the day's size.
    """
    report = SilverReport(rows=dict.fromkeys(SILVER_TABLES, 0))
    with contextlib.ExitStack() as stack:
        writers: dict[str, StagingWriter] = {
            name: stack.enter_context(warehouse.lake.staging(name, day, WAREHOUSE_TABLES[name].schema))
            for name in SILVER_TABLES
        }
        batches = _body_batches(warehouse, day, batch_rows)
        head = list(itertools.islice(batches, 2))
        parallel = workers if len(head) > 1 else 1
        for result in flatten_batches(itertools.chain(head, batches), workers=parallel, pool=pool):
            _add_batch(writers, report, result)
        unknown = pl.DataFrame(
            list(report.unknown_fields.most_common()),
            schema=WAREHOUSE_TABLES["unknown_fields"].schema,
            orient="row",
        )
        writers["unknown_fields"].write(unknown)
        report.rows["unknown_fields"] = unknown.height
        fetches = warehouse.bronze.all_fetches(day)
        writers["fetches"].write(fetches)
        report.rows["fetches"] = fetches.height
    for name, writer in writers.items():
        warehouse.keep_staged(name, day, writer)
    return report


def _body_batches(warehouse: Warehouse, day: date, batch_rows: int) -> Iterator[BodyBatch]:
    for batch in warehouse.bronze.ok_bodies(day, batch_rows=batch_rows):
        yield BodyBatch(batch["request_id"].to_list(), batch["body"].to_list(), batch["api_version"].to_list())


def _add_batch(writers: dict[str, StagingWriter], report: SilverReport, result: FlatBatch) -> None:
    for name, table in [*result.tables.items(), ("quarantine", result.quarantine)]:
        writers[name].write(pl.from_arrow(table))  # type: ignore[arg-type]
        report.rows[name] += table.num_rows
    report.unknown_fields.update(result.unknown_fields)
    report.events_in += result.events_in
    report.events_quarantined += result.events_quarantined
    report.values_quarantined += result.quarantine.num_rows - result.events_quarantined


@dataclass
class RebuildReport:
    """What rebuilding many days produced, and how fast (wall clock, every core)."""

    days: dict[date, SilverReport]
    seconds: float

    @property
    def events_in(self) -> int:
        return sum(r.events_in for r in self.days.values())

    @property
    def events_per_second(self) -> float:
        return self.events_in / self.seconds if self.seconds else 0.0


def rebuild_silver_days(settings: WarehouseSettings, days: Iterable[date], workers: int | None = None) -> RebuildReport:
    """Rebuild and stage the silver tables of `days` from bronze, one day per process on `workers` cores.

    Each worker flattens and writes its own day (Parquet encoding included), so nothing is copied between
    processes but a report; a day fails or succeeds on its own, and the first failure is raised. Publishing the
    days is the caller's (`Warehouse.publish_day`), so each becomes visible whole.
    """
    days = list(days)
    started = time.perf_counter()
    if (workers or default_workers()) == 1 or len(days) == 1:
        reports = [_rebuild_day(settings, d) for d in days]
    else:
        with worker_pool(min(workers or default_workers(), len(days))) as pool:
            reports = list(pool.map(_rebuild_day, itertools.repeat(settings), days))
    return RebuildReport(dict(zip(days, reports, strict=True)), time.perf_counter() - started)


def _rebuild_day(settings: WarehouseSettings, day: date) -> SilverReport:
    return build_silver_day(open_warehouse(settings), day, workers=1)
