"""Every warehouse table in one registry: its schema and the description of each column.

The catalog's API-derived tables come from `transforms.catalog`; the others (log occurrences, fetch
outcomes, quarantine, log rejects, the dashboard feeds of `pipelines.feeds`) from the module that
produces them. Publishing, the data dictionary and the checks all read this registry, so a table exists
everywhere or nowhere. `privacy` marks the columns holding IP addresses or URLs (`transforms.privacy`): the
catalog's markers for the API tables, declared here for the others; the writers rewrite exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipelines.feeds import FEEDS
from pipelines.settings import WarehouseSettings
from pipelines.sql import view_files
from pipelines.storage.bronze import BRONZE_DESCRIPTIONS, BRONZE_SCHEMA
from pipelines.storage.warehouse import Warehouse
from transforms.applog import OCCURRENCE_COLUMNS, OCCURRENCE_SCHEMA, REJECT_COLUMNS, REJECT_SCHEMA
from transforms.catalog import SYSTEM_COLUMNS, TABLES
from transforms.flatten import QUARANTINE_DESCRIPTIONS, QUARANTINE_SCHEMA
from transforms.privacy import GOVERNED_BY, Sensitive
from transforms.versions import VERSIONS_DESCRIPTIONS, VERSIONS_SCHEMA


@dataclass(frozen=True)
class WarehouseTable:
    name: str
    description: str
    schema: pl.Schema
    columns: dict[str, str]  # column → description
    privacy: dict[str, Sensitive] = field(default_factory=dict)  # column → what personal data it holds

    def described(self, column: str) -> str:
        """The column's description, with the variables that rewrite it when it holds IP addresses or URLs."""
        text = self.columns.get(column, "")
        kind = self.privacy.get(column)
        return f"{text} Privacy: {GOVERNED_BY[kind]}." if kind else text


FETCHES_SCHEMA = pl.Schema({k: v for k, v in BRONZE_SCHEMA.items() if k != "body"})
PRIVACY_MODES_SCHEMA = pl.Schema(
    {
        "table_name": pl.String(),
        "ip_privacy": pl.String(),
        "url_privacy": pl.String(),
        "key_id": pl.String(),
        "written_at": pl.Datetime("us", "UTC"),
    }
)
APP_REQUESTS_SCHEMA = pl.Schema({k: v for k, v in OCCURRENCE_SCHEMA.items() if k != "log_day"})


def _catalog_tables() -> list[WarehouseTable]:
    out = []
    for t in TABLES:
        described = (*SYSTEM_COLUMNS, *t.keys, *t.columns)
        columns = {c.name: c.description for c in described}
        out.append(WarehouseTable(t.name, t.description, t.schema, columns, t.privacy))
    return out


WAREHOUSE_TABLES: dict[str, WarehouseTable] = {
    t.name: t
    for t in [
        WarehouseTable(
            "app_requests",
            "Every request-ID occurrence in the application logs, with the line's own context.",
            APP_REQUESTS_SCHEMA,
            {k: v for k, v in OCCURRENCE_COLUMNS.items() if k in APP_REQUESTS_SCHEMA},
            {"context": "json"},
        ),
        WarehouseTable(
            "log_rejects",
            "Application-log lines that could not be used, with the reason (at most 1000 examples per "
            "reason and file; run metadata has the full counts).",
            REJECT_SCHEMA,
            REJECT_COLUMNS,
            {"excerpt": "text"},
        ),
        WarehouseTable(
            "fetches",
            "Every outcome of an event's arrival, one row per fetch (or webhook, or sealed result); view "
            "`fetches_latest` keeps the final one.",
            FETCHES_SCHEMA,
            {k: v for k, v in BRONZE_DESCRIPTIONS.items() if k in FETCHES_SCHEMA},
        ),
        *_catalog_tables(),
        WarehouseTable(
            "unknown_fields",
            "JSON paths the catalog does not know yet, seen in the day's responses (the API adds fields "
            "without notice): each is a candidate one-line addition to transforms/catalog.py.",
            pl.Schema({"json_path": pl.String(), "occurrences": pl.Int64()}),
            {"json_path": "Dotted path of the unknown key.", "occurrences": "How many times it was seen."},
        ),
        WarehouseTable(
            "quarantine",
            "Values (or whole bodies) the flattener could not use, and why; the rest of the event loads.",
            QUARANTINE_SCHEMA,
            QUARANTINE_DESCRIPTIONS,
            {"value_excerpt": "text"},
        ),
        WarehouseTable(
            "event_versions",
            "Every version received of every event: its linked ID, tag and suspect flag, and what changed from the "
            "version before (the nightly refresh lands a new version when an event changed upstream).",
            VERSIONS_SCHEMA,
            VERSIONS_DESCRIPTIONS,
        ),
        WarehouseTable(
            "privacy_modes",
            "The FPWH_IP_PRIVACY / FPWH_URL_PRIVACY modes each table of the day was written with (days without a "
            "row were written in full): one day never mixes two forms.",
            PRIVACY_MODES_SCHEMA,
            {
                "table_name": "A table holding IP addresses or URLs.",
                "ip_privacy": "FPWH_IP_PRIVACY when its partition of the day was written: full, truncate or hash.",
                "url_privacy": "FPWH_URL_PRIVACY then: full or strip_query.",
                "key_id": "For hash: a tag of FPWH_PRIVACY_KEY (not the key), so that keys can be told apart.",
                "written_at": "When the partition was written (UTC).",
            },
        ),
        *(WarehouseTable(f.name, f.description, f.schema, f.descriptions) for f in FEEDS),
    ]
}

SILVER_TABLES: tuple[str, ...] = (
    *(t.name for t in TABLES),
    "quarantine",
    "unknown_fields",
    "fetches",
    "event_versions",
)
APP_TABLES: tuple[str, ...] = ("app_requests", "log_rejects")
# The tables holding IP addresses or URLs: a day's partitions of these must share one privacy mode.
PRIVATE_TABLES: tuple[str, ...] = tuple(name for name, t in WAREHOUSE_TABLES.items() if t.privacy)


def schemas() -> dict[str, pl.Schema]:
    return {name: t.schema for name, t in WAREHOUSE_TABLES.items()}


_OPEN: dict[tuple[str, str], Warehouse] = {}


def open_warehouse(settings: WarehouseSettings) -> Warehouse:
    """The warehouse of `settings` with every registered table and the analyst views (one per process)."""
    key = (settings.location.uri(), settings.catalog)
    warehouse = _OPEN.get(key)
    if warehouse is None:
        from pipelines.comments import apply_comments  # it describes this registry's tables

        files, retention_s = view_files(), settings.retention_hours * 3600
        warehouse = Warehouse(
            settings.location,
            settings.catalog,
            schemas(),
            files,
            retention_s,
            comment=lambda con: apply_comments(con, files),
        )
        _OPEN[key] = warehouse
    return warehouse
