"""Build one day's silver tables from bronze: stream raw bodies, flatten, protect, write Parquet partitions.

Memory stays flat as a day grows: bodies are read in batches, each batch is flattened, its IP addresses and URLs
rewritten for the privacy settings (`transforms.privacy`, the columns the registry marks), and appended to a
streaming Parquet writer per table; every partition file is renamed into place only when the whole day
succeeded. `event_versions` comes from every version bronze holds, the other tables from the latest. No API
call is made here: silver can be rebuilt from bronze, until FPWH_RAW_RETENTION_DAYS dropped the day's bodies
(then `RawBodiesDropped` stops the build and the published partitions stay), and only in the privacy mode of
the day's log tables (else `PrivacyModeMismatch`, see `pipelines.privacy_modes`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipelines import privacy_modes
from pipelines.storage.atomic import replacing
from pipelines.storage.bronze import Bronze
from pipelines.storage.lake import partition_path
from pipelines.tables import SILVER_TABLES, WAREHOUSE_TABLES
from transforms.flatten import FlattenResult, flatten
from transforms.privacy import FULL, PrivacyPolicy, protect
from transforms.versions import UPDATABLE, VERSIONS_SCHEMA, number_versions, single_versions, version_rows


@dataclass
class SilverReport:
    """What building a day produced, for run metadata and checks."""

    rows: dict[str, int] = field(default_factory=dict)
    unknown_fields: Counter[str] = field(default_factory=Counter)
    events_in: int = 0
    events_quarantined: int = 0
    values_quarantined: int = 0


class _PartitionWriters:
    """One streaming Parquet writer per table, each writing to a temp file renamed on success."""

    def __init__(self, lake_root: Path, day: date, tables: tuple[str, ...]) -> None:
        self.stack = contextlib.ExitStack()
        self.writers: dict[str, pq.ParquetWriter] = {}
        for name in tables:
            temp = self.stack.enter_context(replacing(partition_path(lake_root, name, day)))
            arrow_schema = pl.DataFrame(schema=WAREHOUSE_TABLES[name].schema).to_arrow().schema
            writer = pq.ParquetWriter(temp, arrow_schema, compression="zstd")
            self.stack.callback(writer.close)  # closes before `replacing` renames (LIFO)
            self.writers[name] = writer

    def write(self, name: str, df: pl.DataFrame) -> None:
        if df.height:
            frame = df.select(WAREHOUSE_TABLES[name].schema.names())
            self.writers[name].write_table(frame.to_arrow())

    @contextlib.contextmanager
    def committing(self) -> Iterator[_PartitionWriters]:
        with self.stack:
            yield self


def build_silver_day(
    bronze: Bronze, lake_root: Path, day: date, policy: PrivacyPolicy = FULL, batch_rows: int = 5_000
) -> SilverReport:
    """Flatten every final `ok` body of `day` into the silver tables, protected by `policy`; replace the partitions."""
    privacy_modes.check(lake_root, day, SILVER_TABLES, policy)
    report = SilverReport(rows=dict.fromkeys(SILVER_TABLES, 0))
    latest: list[pl.DataFrame] = []
    with _PartitionWriters(lake_root, day, SILVER_TABLES).committing() as out:
        for batch in bronze.ok_bodies(day, batch_rows=batch_rows):
            result = flatten(batch["request_id"].to_list(), batch["body"].to_list(), batch["api_version"].to_list())
            _write_batch(out, result, policy, report)
            labels = result.tables["events"].select("request_id", "api_version", *UPDATABLE)
            latest.append(batch.select("request_id", "fetched_at", "method").join(labels, on="request_id"))
        fetches = bronze.all_fetches(day)
        derived = {
            "unknown_fields": pl.DataFrame(
                list(report.unknown_fields.most_common()),
                schema=WAREHOUSE_TABLES["unknown_fields"].schema,
                orient="row",
            ),
            "fetches": fetches,
            "event_versions": event_versions(bronze, day, fetches, latest, batch_rows),
        }
        for name, df in derived.items():
            out.write(name, df)
            report.rows[name] = df.height
    privacy_modes.record(lake_root, day, SILVER_TABLES, policy)
    return report


def _write_batch(out: _PartitionWriters, result: FlattenResult, policy: PrivacyPolicy, report: SilverReport) -> None:
    for name, df in [*result.tables.items(), ("quarantine", result.quarantine)]:
        out.write(name, protect(df, WAREHOUSE_TABLES[name].privacy, policy))
        report.rows[name] += df.height
    report.unknown_fields.update(result.unknown_fields)
    report.events_in += result.events_in
    report.events_quarantined += result.events_quarantined
    report.values_quarantined += result.quarantine.height - result.events_quarantined


def event_versions(
    bronze: Bronze, day: date, fetches: pl.DataFrame, latest: list[pl.DataFrame], batch_rows: int = 5_000
) -> pl.DataFrame:
    """The `event_versions` rows of `day`.

    An event received once (nearly all) takes its labels from its `events` row (`latest`, already flattened);
    only the events bronze holds several versions of are read again, every version, to say what changed.
    """
    ok = fetches.filter(pl.col("outcome") == "ok")
    several = ok.group_by("request_id").len().filter(pl.col("len") > 1)["request_id"]
    received = pl.concat(latest) if latest else pl.DataFrame(schema=VERSIONS_SCHEMA)
    once = single_versions(received.filter(~pl.col("request_id").is_in(several.implode())))
    if several.is_empty():
        return once.sort("request_id")
    staged = []
    for batch in bronze.ok_versions(day, batch_rows=batch_rows):
        batch = batch.filter(pl.col("request_id").is_in(several.implode()))
        columns = (batch[c].to_list() for c in ("request_id", "fetched_at", "api_version", "method", "body"))
        staged.append(version_rows(*columns))
    return pl.concat([once, number_versions(pl.concat(staged))]).sort("request_id", "version")
