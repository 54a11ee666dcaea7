"""Erasure (right to erasure): every trace of some visitors, or of some events, removed from the warehouse now.

`forget_visitors` (`./fpwh forget-visitor`, the `forget_visitors` job) finds the visitors' events, by request ID,
in the raw bodies of bronze (any field naming the visitor: events no table holds, quarantined bodies included)
and in the lake's `events` table (so a re-run after a crash still finds what bronze already lost), then erases
them like `erase_events`, which the nightly refresh uses for events deleted upstream (404 inside retention):
1. land the webhook inbox into bronze (acknowledged webhooks would otherwise bring the events back), then
   rewrite the bronze files holding the events without them (`Bronze.erase`, crash-safe);
2. for each day of the lake holding a row of them, stage every table's day without those rows (tables keyed by
   request ID, the log rejects whose excerpt names them) and publish the day with its feeds recomputed
   (`Warehouse.publish_day`), then rewrite `fingerprint.duckdb` once for all those days; no API call, no rebuild
   from bronze, so it works for days whose raw bodies retention dropped and leaves every other row as it was;
3. delete now, not after the normal retention, the data files those publishes replaced, every older Iceberg
   snapshot of the tables and the manifests only they used (their column bounds may hold an ID or an IP), and
   redraw the dashboard;
4. scrub the run state naming them: the fetch queues first of all (while bronze and the lake still lead a re-run
   to the IDs), the events deleted upstream last (they lead the next refresh back to an unfinished erasure);
   complete the audit row of `fpwh_erasures` (written `started` before step 1: visitor IDs as SHA-256 digests,
   counts, days, time; never the data), and make the deleted rows unrecoverable from the catalog database's
   files (`pipelines.storage.database.scrub`: SQLite's write-ahead log still holds the pages as they were).
A crash anywhere leaves the erasure to be run again: every step finds what is left and finishes it.

With `client` (`--api`), each visitor is first deleted upstream too (`DELETE /visitors/{visitor_id}`), through
the client's budgeted, retried call, so that a later fetch of its events answers 404 instead of bringing them back.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from pipelines.api.client import FingerprintClient
from pipelines.dashboard import write_dashboard
from pipelines.feeds import FEEDS, build_feeds
from pipelines.push import land_webhooks
from pipelines.state import DELETED, FETCH_QUEUE, PUBLISHED, STAGED, SUPERSEDED
from pipelines.storage.database import scrub
from pipelines.storage.warehouse import CollectReport, Warehouse
from pipelines.tables import WAREHOUSE_TABLES

Log = Callable[[str], None]
# The tables whose rows belong to an event: every one keyed by request ID.
EVENT_TABLES: tuple[str, ...] = tuple(name for name, t in WAREHOUSE_TABLES.items() if "request_id" in t.schema)
# Tables without a request ID whose free text may quote one (a rejected log line): table -> its text column.
TEXT_TABLES: dict[str, str] = {"log_rejects": "excerpt"}
FEED_TABLES: tuple[str, ...] = tuple(feed.name for feed in FEEDS)
VISITOR_COLUMNS = ("visitor_id", "high_recall_visitor_id")
# State tables an erasure deletes from (PostgreSQL vacuums them afterwards, `scrub`).
STATE_TABLES = tuple(str(t.name) for t in (FETCH_QUEUE, DELETED, PUBLISHED, STAGED, SUPERSEDED))


@dataclass
class ErasureReport:
    """What one erasure removed: counts only, never an ID."""

    reason: str
    visitors: list[str] = field(default_factory=list, repr=False)
    request_ids: int = 0
    days: list[date] = field(default_factory=list)
    rows: Counter[str] = field(default_factory=Counter)  # table (or `bronze`, a state table) -> rows removed
    api: Counter[str] = field(default_factory=Counter)  # outcome of DELETE /visitors -> visitors
    api_called: bool = False
    purged: CollectReport = field(default_factory=CollectReport)
    seconds: float = 0.0
    erasure_id: int = 0

    def metadata(self) -> dict[str, Any]:
        """Run metadata and the command's summary: counts and days, no ID of a visitor or an event."""
        return {
            "erasure_id": self.erasure_id,
            "reason": self.reason,
            "visitors": len(self.visitors),
            "request_ids": self.request_ids,
            "days_rewritten": [d.isoformat() for d in self.days],
            "rows_removed": dict(sorted(self.rows.items())),
            "api_called": self.api_called,
            "api_outcomes": dict(self.api),
            "files_deleted": self.purged.superseded_files + self.purged.debris_files,
            "snapshots_expired": self.purged.snapshots,
            "seconds": round(self.seconds, 3),
        }


def visitor_digest(visitor_id: str) -> str:
    """How the audit names a visitor: SHA-256 of the ID (hash an ID to ask whether it was erased)."""
    return hashlib.sha256(visitor_id.encode()).hexdigest()


def forget_visitors(
    warehouse: Warehouse, visitor_ids: Iterable[str], client: FingerprintClient | None = None, log: Log = print
) -> ErasureReport:
    """Erase every trace of `visitor_ids` (see the module docstring); with `client`, delete them upstream first."""
    started = time.monotonic()
    visitors = list(dict.fromkeys(v.strip() for v in visitor_ids if v.strip()))
    report = ErasureReport("forget_visitor", visitors)
    if client is not None:
        report.api_called = True
        for visitor in visitors:
            report.api[client.delete_visitor(visitor).outcome] += 1
    land_webhooks(warehouse.state, warehouse.bronze, log=log)
    request_ids: set[str] = set()
    for day in warehouse.bronze.days():
        request_ids |= warehouse.bronze.request_ids_holding(day, visitors)
    request_ids |= _lake_ids_of(warehouse, visitors)
    _erase(warehouse, request_ids, [*visitors, *request_ids], report, log)
    report.seconds = time.monotonic() - started
    return report


def erase_events(
    warehouse: Warehouse, request_ids: Iterable[str], reason: str = "deleted_upstream", log: Log = print
) -> ErasureReport:
    """Erase every trace of the events `request_ids` (an event deleted upstream: 404 on refresh in retention)."""
    started = time.monotonic()
    ids = set(request_ids)
    report = ErasureReport(reason)
    land_webhooks(warehouse.state, warehouse.bronze, log=log)
    _erase(warehouse, ids, sorted(ids), report, log)
    report.seconds = time.monotonic() - started
    return report


def _erase(warehouse: Warehouse, request_ids: set[str], texts: list[str], report: ErasureReport, log: Log) -> None:
    """Steps 1-4 of the module docstring for `request_ids`; `texts` are what a log reject must not quote."""
    state = warehouse.state
    report.request_ids = len(request_ids)
    days = _lake_days(warehouse, request_ids, texts) if request_ids else set()
    report.days = sorted(days)
    audit = {
        "erased_at": time.time(),
        "reason": report.reason,
        "visitor_sha256": [visitor_digest(v) for v in report.visitors],
        "request_ids": report.request_ids,
        "days": [d.isoformat() for d in report.days],
        "rows": {},
        "api_called": report.api_called,
        "api_outcomes": dict(report.api),
    }
    unfinished = state.unfinished_erasures()  # killed before their clean-up: finished here
    report.erasure_id = state.begin_erasure(audit)
    state.record_erased(request_ids)  # first: from here on no run fetches them again or keeps their log lines
    # the fetch queues first, while bronze and the lake still lead a re-run to the IDs; the events deleted upstream
    # last, as they are what leads the next night's refresh back to an erasure it did not finish
    report.rows.update(state.erase_request_ids(request_ids, deleted=False))
    if request_ids:
        for day in warehouse.bronze.days():
            report.rows["bronze"] += warehouse.bronze.erase(day, request_ids)
        for day in report.days:
            _rewrite_day(warehouse, day, request_ids, texts, report)
    purge_days = days.union(*unfinished.values())
    if purge_days:
        if not warehouse.location.is_remote:
            warehouse.write_database()  # once for every day republished, before the files it replaced go
        report.purged = warehouse.purge([*EVENT_TABLES, *TEXT_TABLES, *FEED_TABLES], purge_days)
        if warehouse.publication.files(["feed_daily_traffic"]):
            write_dashboard(warehouse)
    report.rows.update(state.erase_request_ids(request_ids))
    report.rows = Counter({k: v for k, v in report.rows.items() if v})
    finished = {"erased_at": time.time(), "rows": dict(sorted(report.rows.items()))}
    state.finish_erasure(report.erasure_id, finished, unfinished)
    scrub(state.engine, STATE_TABLES)
    log(f"erasure {report.erasure_id}: {report.request_ids} events, {len(report.days)} days rewritten")


def _rewrite_day(warehouse: Warehouse, day: date, ids: set[str], texts: list[str], report: ErasureReport) -> None:
    """Stage each table's `day` without the erased rows and publish the day with its feeds recomputed."""
    erased = pl.Series(sorted(ids), dtype=pl.String).implode()
    feeds_before = _feed_rows(warehouse, day, report.visitors)
    for table in (*EVENT_TABLES, *TEXT_TABLES):
        if not warehouse.publication.day_files(table, day):
            continue
        frame = warehouse.read_day(table, day)
        if table in TEXT_TABLES:
            text = pl.col(TEXT_TABLES[table]).fill_null("")
            hit = pl.any_horizontal([text.str.contains(t, literal=True) for t in texts]) if texts else pl.lit(False)
        else:
            hit = pl.col("request_id").is_in(erased)
        kept = frame.filter(~hit)
        if kept.height < frame.height:
            warehouse.stage(table, day, kept.drop("day"))
            report.rows[table] += frame.height - kept.height
    warehouse.publish_day(day, derive=lambda con: build_feeds(con, day), database=False)
    for feed, rows in feeds_before.items():
        report.rows[feed] += rows


def _feed_rows(warehouse: Warehouse, day: date, visitors: list[str]) -> dict[str, int]:
    """Rows of `day`'s feeds that name one of `visitors` (the recomputed feeds no longer have them)."""
    found = {}
    for feed in FEEDS:
        if "visitor_id" in feed.schema and visitors:
            frame = warehouse.read_day(feed.name, day)
            found[feed.name] = frame.filter(pl.col("visitor_id").is_in(visitors)).height
    return found


def _lake_ids_of(warehouse: Warehouse, visitors: list[str]) -> set[str]:
    """Request IDs of the published events naming one of `visitors` (a re-run finds them after bronze is clean)."""
    if not visitors:
        return set()
    where = " OR ".join(f"{c} IN (SELECT v FROM erased_visitors)" for c in VISITOR_COLUMNS)
    with warehouse.reader() as con:
        con.register("erased_visitors", pl.DataFrame({"v": visitors}, schema={"v": pl.String}))
        return {row[0] for row in con.execute(f"SELECT DISTINCT request_id FROM events WHERE {where}").fetchall()}


def _lake_days(warehouse: Warehouse, ids: set[str], texts: list[str]) -> set[date]:
    """The published days with a row of the erased events, in any table."""
    days: set[date] = set()
    with warehouse.reader() as con:
        con.register("erased_ids", pl.DataFrame({"id": sorted(ids)}, schema={"id": pl.String}))
        con.register("erased_texts", pl.DataFrame({"t": texts}, schema={"t": pl.String}))
        for table in EVENT_TABLES:
            query = f"SELECT DISTINCT day FROM {table} WHERE request_id IN (SELECT id FROM erased_ids)"
            days.update(row[0] for row in con.execute(query).fetchall())
        for table, column in TEXT_TABLES.items():
            query = f"SELECT DISTINCT day FROM {table} JOIN erased_texts ON contains({column}, t)"
            days.update(row[0] for row in con.execute(query).fetchall())
    return days
