"""Build one day's silver tables from bronze: stream raw bodies, flatten, stage one data file per table.

Memory stays flat as a day grows: bodies are read in batches, each batch is flattened and appended to one
streaming data file per table, and the day's files are staged (recorded for the day's publish) only when the whole
day succeeded. No API call is made here: silver can always be rebuilt from bronze.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from pipelines.storage.lake import StagingWriter
from pipelines.storage.warehouse import Warehouse
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


def build_silver_day(warehouse: Warehouse, day: date, batch_rows: int = 5_000) -> SilverReport:
    """Flatten every final `ok` body of `day` into the silver tables and stage them for the day's publish."""
    report = SilverReport(rows=dict.fromkeys(SILVER_TABLES, 0))
    with contextlib.ExitStack() as stack:
        writers: dict[str, StagingWriter] = {
            name: stack.enter_context(warehouse.lake.staging(name, day, WAREHOUSE_TABLES[name].schema))
            for name in SILVER_TABLES
        }
        for batch in warehouse.bronze.ok_bodies(day, batch_rows=batch_rows):
            result = flatten(batch["request_id"].to_list(), batch["body"].to_list(), batch["api_version"].to_list())
            for name, df in [*result.tables.items(), ("quarantine", result.quarantine)]:
                writers[name].write(df)
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
        writers["unknown_fields"].write(unknown)
        report.rows["unknown_fields"] = unknown.height
        fetches = warehouse.bronze.all_fetches(day)
        writers["fetches"].write(fetches)
        report.rows["fetches"] = fetches.height
    for name, writer in writers.items():
        warehouse.keep_staged(name, day, writer)
    return report
