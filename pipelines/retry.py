"""Finishing incomplete days: every run retries the logged request IDs of earlier days that have no final outcome.

A run whose failed fetches stay under FPWH_MAX_FAILED_RATE publishes its day with those events missing; nothing
in that day's own partition would ever fetch them again. So every run (the nightly one included), after its own
day's fetch, looks for the days still inside FINGERPRINT_RETENTION_DAYS that the `day_completeness` view says are
not complete (a `failed` or `pending` logged ID), fetches exactly those IDs again (`DayFetch`: the day's own
strategy, through the key's shared rate budget) and rebuilds each day that gained an outcome (`rebuild_day`:
silver, views, feeds published at once). An ID ends the retries when it ends `ok` or `not_found`, or when its day
leaves retention (the API no longer has it). The run's own day is left to its `raw_events`, which just fetched it.

Days with a corrupt file set aside (`pipelines.storage.integrity`) are rebuilt the same way, from bronze; a log
table's file (`app_requests`, `log_rejects`) cannot be rebuilt without the logs, so such a day is reported with the
command that re-reads them.

One retry pass runs at a time (the `retry_failed` lock), so two overlapping runs never fetch the same ID twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipelines.api.client import FingerprintClient
from pipelines.fetch.day import DayFetch
from pipelines.logs import request_ids_to_fetch
from pipelines.rebuild import rebuild_if_possible
from pipelines.storage.locks import exclusive_lock
from pipelines.storage.warehouse import Warehouse
from pipelines.tables import APP_TABLES
from transforms.privacy import PrivacyPolicy

Log = Callable[[str], None]
LOCK_TIMEOUT_S = 3 * 3600.0
INCOMPLETE_DAYS = "SELECT day FROM day_completeness WHERE NOT complete AND day >= ? AND day <> ? ORDER BY day"


@dataclass
class DayRetry:
    """One incomplete day's retry: how many IDs were asked for again, what they ended as, and the calls spent."""

    day: date
    retried: int
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    still_open: int = 0


@dataclass
class RetryReport:
    """What the retry pass found, spent and rebuilt."""

    night: date
    days: list[DayRetry] = field(default_factory=list)
    rebuilt: list[date] = field(default_factory=list)
    not_rebuilt: dict[date, str] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(d.calls for d in self.days)

    def metadata(self) -> dict[str, Any]:
        return {
            "incomplete_days": [d.day.isoformat() for d in self.days],
            "ids_retried": sum(d.retried for d in self.days),
            "retry_api_calls": self.calls,
            "retry_outcomes": {d.day.isoformat(): d.outcomes for d in self.days},
            "ids_still_open": sum(d.still_open for d in self.days),
            "days_rebuilt": [d.isoformat() for d in self.rebuilt],
            "days_not_rebuilt": {d.isoformat(): why for d, why in self.not_rebuilt.items()},
        }


def oldest_retained(retention_days: int, now: datetime | None = None) -> date:
    """The oldest day whose events the API still serves (the same cut as the nightly refresh)."""
    now = datetime.now(UTC) if now is None else now
    return (now - timedelta(days=retention_days)).date() + timedelta(days=1)


def incomplete_days(warehouse: Warehouse, night: date, oldest: date) -> list[date]:
    """Published days from `oldest` on, other than `night`, that `day_completeness` says are not complete."""
    with warehouse.reader() as con:
        return [row[0] for row in con.execute(INCOMPLETE_DAYS, [oldest, night]).fetchall()]


def open_ids(warehouse: Warehouse, day: date) -> list[str]:
    """The day's logged request IDs without a final (`ok` / `not_found`) outcome in bronze, in logged order."""
    logged = warehouse.read_day("app_requests", day)
    ids = request_ids_to_fetch(logged) if logged.height else []
    done = warehouse.bronze.done_ids(day)
    return [rid for rid in ids if rid not in done]


def retry_incomplete_days(
    night: date, warehouse: Warehouse, client: FingerprintClient, policy: PrivacyPolicy, log: Log
) -> RetryReport:
    """Fetch again the open IDs of every incomplete day inside retention and rebuild the days that gained outcomes
    or lost a corrupt file (`pipelines.storage.integrity`)."""
    report = RetryReport(night)
    state = warehouse.state
    oldest = oldest_retained(client.settings.retention_days)
    with exclusive_lock(state.lock_path("retry_failed"), LOCK_TIMEOUT_S, purpose="retry the failed fetches"):
        incomplete = incomplete_days(warehouse, night, oldest)  # reading may set a corrupt file aside: marks after
        lost = {day: tables for day, tables in warehouse.marks.days().items() if day != night}
        for day in sorted(set(incomplete) | set(lost)):
            todo = open_ids(warehouse, day) if day >= oldest else []
            retried = DayRetry(day, len(todo))
            report.days.append(retried)
            if todo:
                fetched = DayFetch(day, client, warehouse.bronze, state, log).run(todo)
                warehouse.bronze.compact(day)
                retried.calls = fetched.api_calls
                retried.outcomes = dict(fetched.progress.outcomes)
                retried.still_open = len(open_ids(warehouse, day))
            log(f"retried {day}: {len(todo)} open IDs, {retried.calls} calls, {retried.still_open} still open")
            if retried.still_open < retried.retried or not todo or day in lost:  # something new to show
                _rebuild(warehouse, day, policy, report, log)
            if lost.get(day, set()) & set(APP_TABLES):
                report.not_rebuilt[day] = f"a corrupt file of {', '.join(sorted(lost[day]))} was set aside: " + (
                    f"run the day again to read its logs (./fpwh run {day} --force)"
                )
    return report


def _rebuild(warehouse: Warehouse, day: date, policy: PrivacyPolicy, report: RetryReport, log: Log) -> None:
    cannot = rebuild_if_possible(warehouse, day, policy)
    if cannot is None:
        report.rebuilt.append(day)
    else:
        report.not_rebuilt[day] = cannot
        log(f"retry: {day} was not rebuilt: {cannot}")
