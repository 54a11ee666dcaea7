"""Build one day's silver tables from bronze: stream raw bodies, flatten, write Parquet partitions.

Memory stays flat as a day grows: bodies are read in batches, each batch is flattened and appended to a
streaming Parquet writer per table, and every partition file is renamed into place only when the whole day
succeeded. No API call is made here: silver can always be rebuilt from bronze.
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

from pipelines.storage.atomic import replacing
from pipelines.storage.bronze import Bronze
from pipelines.storage.lake import partition_path
from pipelines.tables import SILVER_TABLES, WAREHOUSE_TABLES
from transforms.flatten import flatten


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


def build_silver_day(bronze: Bronze, lake_root: Path, day: date, batch_rows: int = 5_000) -> SilverReport:
    """Flatten every final `ok` body of `day` into the silver tables and replace their partitions."""
    report = SilverReport(rows=dict.fromkeys(SILVER_TABLES, 0))
    with _PartitionWriters(lake_root, day, SILVER_TABLES).committing() as out:
        for batch in bronze.ok_bodies(day, batch_rows=batch_rows):
            result = flatten(batch["request_id"].to_list(), batch["body"].to_list(), batch["api_version"].to_list())
            for name, df in [*result.tables.items(), ("quarantine", result.quarantine)]:
                out.write(name, df)
                report.rows[name] += df.height
            report.unknown_fields.update(result.unknown_fields)
            report.events_in += result.events_in
            report.events_quarantined += result.events_quarantined
            report.values_quarantined += result.quarantine.height - result.events_quarantined
        unknown = pl.DataFrame(
            list(report.unknown_fields.most_common()),
            schema=WAREHOUSE_TABLES["unknown_fields"].schema,
            orient="row",
        )
        out.write("unknown_fields", unknown)
        report.rows["unknown_fields"] = unknown.height
        fetches = bronze.all_fetches(day)
        out.write("fetches", fetches)
        report.rows["fetches"] = fetches.height
    return report
