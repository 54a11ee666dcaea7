"""Build silver tables from bronze: stream raw bodies, flatten, protect, stage one data file per table and day.

Memory stays flat as a day grows: bodies are read in batches, each batch is flattened (in worker processes when
the day has more than one batch, `pipelines.flatten_pool`), its IP addresses and URLs rewritten for the privacy
settings (`transforms.privacy`, the columns the registry marks), and appended to one streaming data file per
table; the day's files are staged (recorded for the day's publish) only when the whole day succeeded.
`event_versions` comes from every version bronze holds, the other tables from the latest. Rebuilding many days
runs one day per process, so every core flattens and encodes Parquet.

No API call is made here: silver can be rebuilt from bronze, until FPWH_RAW_RETENTION_DAYS dropped the day's
bodies (then `RawBodiesDropped` stops the build and the published rows stay), and only in the privacy mode of the
day's log tables (else `PrivacyModeMismatch`, see `pipelines.privacy_modes`).
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

from pipelines import privacy_modes
from pipelines.flatten_pool import BodyBatch, FlatBatch, default_workers, flatten_batches, worker_pool
from pipelines.settings import WarehouseSettings
from pipelines.storage.bronze import Bronze
from pipelines.storage.lake import StagingWriter
from pipelines.storage.warehouse import Warehouse
from pipelines.tables import SILVER_TABLES, WAREHOUSE_TABLES, open_warehouse
from transforms.privacy import FULL, PrivacyPolicy, protect
from transforms.versions import UPDATABLE, VERSIONS_SCHEMA, number_versions, single_versions, version_rows

# Columns of a bronze record an `event_versions` row needs besides the event's labels.
_RECEIPT = ("request_id", "fetched_at", "method")


@dataclass
class SilverReport:
    """What building a day produced, for run metadata and checks."""

    rows: dict[str, int] = field(default_factory=dict)
    unknown_fields: Counter[str] = field(default_factory=Counter)
    events_in: int = 0
    events_quarantined: int = 0
    values_quarantined: int = 0


@dataclass
class _DayBuild:
    """The writers of one day's build and what it has seen so far."""

    writers: dict[str, StagingWriter]
    policy: PrivacyPolicy
    report: SilverReport
    receipts: list[pl.DataFrame] = field(default_factory=list)  # (request_id, fetched_at, method) of each body
    labels: list[pl.DataFrame] = field(default_factory=list)  # the `events` rows' updatable fields

    def write(self, name: str, df: pl.DataFrame) -> None:
        self.writers[name].write(protect(df, WAREHOUSE_TABLES[name].privacy, self.policy))
        self.report.rows[name] += df.height

    def add(self, result: FlatBatch) -> None:
        for name, table in [*result.tables.items(), ("quarantine", result.quarantine)]:
            self.write(name, pl.from_arrow(table))  # type: ignore[arg-type]
        events = pl.from_arrow(result.tables["events"])
        self.labels.append(events.select("request_id", "api_version", *UPDATABLE))  # type: ignore[union-attr]
        report = self.report
        report.unknown_fields.update(result.unknown_fields)
        report.events_in += result.events_in
        report.events_quarantined += result.events_quarantined
        report.values_quarantined += result.quarantine.num_rows - result.events_quarantined


def build_silver_day(
    warehouse: Warehouse,
    day: date,
    policy: PrivacyPolicy = FULL,
    batch_rows: int = 2_500,
    workers: int | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> SilverReport:
    """Flatten every final `ok` body of `day` into the silver tables, protected by `policy`, and stage them.

    A day of more than one batch is flattened by `workers` processes (default: all cores; `pool` to share a
    running pool); a smaller day in this process, where starting workers would cost more than it saves.
    Batches of 2,500 events keep the whole process tree under 0.7 GB whatever the day's size.
    """
    privacy_modes.check(warehouse, day, SILVER_TABLES, policy)
    report = SilverReport(rows=dict.fromkeys(SILVER_TABLES, 0))
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(warehouse.lake.staging(name, day, WAREHOUSE_TABLES[name].schema))
            for name in SILVER_TABLES
        }
        build = _DayBuild(writers, policy, report)
        batches = _body_batches(warehouse.bronze, day, batch_rows, build.receipts)
        head = list(itertools.islice(batches, 2))
        parallel = workers if len(head) > 1 else 1
        for result in flatten_batches(itertools.chain(head, batches), workers=parallel, pool=pool):
            build.add(result)
        fetches = warehouse.bronze.all_fetches(day)
        derived = {
            "unknown_fields": pl.DataFrame(
                list(report.unknown_fields.most_common()),
                schema=WAREHOUSE_TABLES["unknown_fields"].schema,
                orient="row",
            ),
            "fetches": fetches,
            "event_versions": event_versions(warehouse.bronze, day, fetches, _received(build), batch_rows),
        }
        for name, df in derived.items():
            build.write(name, df)
    for name, writer in writers.items():
        warehouse.keep_staged(name, day, writer)
    privacy_modes.record(warehouse, day, SILVER_TABLES, policy)
    return report


def _body_batches(bronze: Bronze, day: date, batch_rows: int, receipts: list[pl.DataFrame]) -> Iterator[BodyBatch]:
    for batch in bronze.ok_bodies(day, batch_rows=batch_rows):
        receipts.append(batch.select(_RECEIPT))
        yield BodyBatch(batch["request_id"].to_list(), batch["body"].to_list(), batch["api_version"].to_list())


def _received(build: _DayBuild) -> pl.DataFrame:
    """The latest version of each event of the day: when and how it was received, and its labels."""
    if not build.labels:
        return pl.DataFrame(schema=VERSIONS_SCHEMA)
    return pl.concat(build.receipts).join(pl.concat(build.labels), on="request_id")


def event_versions(
    bronze: Bronze, day: date, fetches: pl.DataFrame, received: pl.DataFrame, batch_rows: int = 5_000
) -> pl.DataFrame:
    """The `event_versions` rows of `day`.

    An event received once (nearly all) takes its labels from its `events` row (`received`, already flattened);
    only the events bronze holds several versions of are read again, every version, to say what changed.
    """
    ok = fetches.filter(pl.col("outcome") == "ok")
    several = ok.group_by("request_id").len().filter(pl.col("len") > 1)["request_id"]
    once = single_versions(received.filter(~pl.col("request_id").is_in(several.implode())))
    if several.is_empty():
        return once.sort("request_id")
    staged = []
    for batch in bronze.ok_versions(day, batch_rows=batch_rows):
        batch = batch.filter(pl.col("request_id").is_in(several.implode()))
        columns = (batch[c].to_list() for c in ("request_id", "fetched_at", "api_version", "method", "body"))
        staged.append(version_rows(*columns))
    return pl.concat([once, number_versions(pl.concat(staged))]).sort("request_id", "version")


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


def rebuild_silver_days(
    settings: WarehouseSettings, days: Iterable[date], policy: PrivacyPolicy = FULL, workers: int | None = None
) -> RebuildReport:
    """Rebuild and stage the silver tables of `days` from bronze, one day per process on `workers` cores.

    Each worker flattens and writes its own day (Parquet encoding included), so nothing is copied between
    processes but a report; a day fails or succeeds on its own, and the first failure is raised. Publishing the
    days is the caller's (`Warehouse.publish_day`), so each becomes visible whole.
    """
    days = list(days)
    started = time.perf_counter()
    if (workers or default_workers()) == 1 or len(days) == 1:
        reports = [_rebuild_day(settings, policy, d) for d in days]
    else:
        with worker_pool(min(workers or default_workers(), len(days))) as pool:
            reports = list(pool.map(_rebuild_day, itertools.repeat(settings), itertools.repeat(policy), days))
    return RebuildReport(dict(zip(days, reports, strict=True)), time.perf_counter() - started)


def _rebuild_day(settings: WarehouseSettings, policy: PrivacyPolicy, day: date) -> SilverReport:
    return build_silver_day(open_warehouse(settings), day, policy, workers=1)
