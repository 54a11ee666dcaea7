"""The nightly refresh: re-read the trailing days, land what changed upstream, rebuild those days, note deletions.

Which days the night of day D re-reads: the `window` days before D (FPWH_REFRESH_DAYS, default the API's update
window, capped at retention) that bronze holds, except
- days a refresh already re-read completely after D ended: a re-run of the same night, or the later nights of a
  backfill, refresh nothing twice (the run state keeps when each day was re-read);
- days past retention by the clock (their events can no longer be read; an old night of a backfill costs nothing).
Day D itself is being fetched by the same run; the next night refreshes it.

Each day is re-read by `DayRefresh` (`pipelines.fetch.refresh`); a day where something changed is rebuilt whole by
`rebuild_day` (silver, views, feeds); events deleted upstream (404 inside retention) are recorded in the run state
and then erased like a forgotten visitor's (`pipelines.erasure.erase_events`: bronze, every table, feeds, snapshots,
state), also those an earlier night recorded but did not get to erase. A day that cannot be rebuilt (raw bodies
dropped, another privacy mode) keeps its new versions in bronze and is reported with the reason and the fix; the
next whole-day run of it picks them up. One refresh runs at a time (the `refresh` lock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipelines.api.client import FingerprintClient
from pipelines.erasure import erase_events
from pipelines.fetch.refresh import DayRefresh, DayRefreshReport
from pipelines.rebuild import rebuild_if_possible
from pipelines.storage.bronze import RawBodiesDropped
from pipelines.storage.locks import exclusive_lock
from pipelines.storage.warehouse import Warehouse
from transforms.privacy import PrivacyPolicy

Log = Callable[[str], None]
LOCK_TIMEOUT_S = 3 * 3600.0
EXAMPLES = 20


@dataclass
class RefreshReport:
    """What the night's refresh re-read, cost, found and rebuilt."""

    night: date
    window_days: int
    days: list[DayRefreshReport] = field(default_factory=list)
    already_refreshed: list[date] = field(default_factory=list)
    rebuilt: list[date] = field(default_factory=list)
    not_rebuilt: dict[date, str] = field(default_factory=dict)  # changed upstream, but could not be rebuilt: why
    unreadable: dict[date, str] = field(default_factory=dict)  # could not be re-read (raw bodies dropped): why
    erasure: dict[str, Any] = field(default_factory=dict)  # the erasure of the events deleted upstream (counts)

    @property
    def calls(self) -> int:
        return sum(d.calls for d in self.days)

    @property
    def checked(self) -> int:
        return sum(d.checked for d in self.days)

    @property
    def changed(self) -> dict[str, list[str]]:
        return {rid: what for d in self.days for rid, what in d.changed.items()}

    @property
    def deleted(self) -> list[str]:
        return [rid for d in self.days for rid in d.deleted]

    def metadata(self) -> dict[str, Any]:
        """The run metadata: cost, changes and deletions, per day where it helps."""
        changed = self.changed
        return {
            "refresh_days": self.window_days,
            "days_refreshed": [d.day.isoformat() for d in self.days],
            "days_already_refreshed": [d.isoformat() for d in self.already_refreshed],
            "refresh_calls": self.calls,
            "refresh_search_pages": sum(d.search_pages for d in self.days),
            "refresh_by_id_calls": sum(d.by_id_calls for d in self.days),
            "events_checked": self.checked,
            "refresh_calls_per_event": round(self.calls / self.checked, 4) if self.checked else 0.0,
            "events_changed": len(changed),
            "changed_fields": dict(Counter(f for what in changed.values() for f in what).most_common()),
            "changed_examples": dict(list(changed.items())[:EXAMPLES]),
            "deleted": len(self.deleted),  # no examples: the IDs of erased events are kept nowhere
            "erased_events": self.erasure.get("request_ids", 0),
            "erasure_id": self.erasure.get("erasure_id"),
            "expired": sum(d.expired for d in self.days),
            "failed": sum(d.failed for d in self.days),
            "other_api_version": sum(d.other_version for d in self.days),
            "days_rebuilt": [d.isoformat() for d in self.rebuilt],
            "days_not_rebuilt": {d.isoformat(): why for d, why in self.not_rebuilt.items()},
            "days_not_refreshed": {d.isoformat(): why for d, why in self.unreadable.items()},
        }


def days_to_refresh(
    night: date, window: int, held: Iterable[date], refreshed_at: dict[date, datetime], oldest: date
) -> tuple[list[date], list[date]]:
    """(days to re-read, days already re-read for this night) among the `window` days before `night`."""
    night_ended = datetime.combine(night + timedelta(days=1), time(), UTC)
    candidates = [d for d in sorted(set(held)) if night - timedelta(days=window) <= d < night and d >= oldest]
    done = [d for d in candidates if refreshed_at.get(d, datetime.min.replace(tzinfo=UTC)) >= night_ended]
    return [d for d in candidates if d not in done], done


def refresh_window(
    night: date, warehouse: Warehouse, client: FingerprintClient, policy: PrivacyPolicy, log: Log
) -> RefreshReport:
    """Re-read the days before `night` (see the module docstring); rebuild the changed ones under `policy`."""
    settings = client.settings
    report = RefreshReport(night, settings.refresh_window_days)
    if not report.window_days:
        return report
    state, bronze = warehouse.state, warehouse.bronze
    with exclusive_lock(state.lock_path("refresh"), LOCK_TIMEOUT_S, purpose="refresh the trailing days"):
        oldest = (datetime.now(UTC) - timedelta(days=settings.retention_days)).date() + timedelta(days=1)
        todo, report.already_refreshed = days_to_refresh(
            night, report.window_days, bronze.days(), state.refreshed_at(), oldest
        )
        for day in todo:
            started = datetime.now(UTC)
            try:
                found = DayRefresh(day, client, bronze, log).run()
            except RawBodiesDropped as cannot:
                report.unreadable[day] = str(cannot)
                continue
            report.days.append(found)
            state.record_deleted(day, found.deleted, started)
            if found.changed:
                _rebuild(warehouse, day, policy, report, log)
            if found.complete:
                state.mark_refreshed([day], started)
            log(f"refreshed {day}: {found.checked} events, {found.calls} calls, {len(found.changed)} changed")
        pending = state.deleted_events()
        if pending.height:
            report.erasure = erase_events(warehouse, pending["request_id"].to_list(), log=log).metadata()
    return report


def _rebuild(warehouse: Warehouse, day: date, policy: PrivacyPolicy, report: RefreshReport, log: Log) -> None:
    cannot = rebuild_if_possible(warehouse, day, policy)
    if cannot is None:
        report.rebuilt.append(day)
    else:
        report.not_rebuilt[day] = cannot
        log(f"refresh: {day} changed upstream but was not rebuilt: {cannot}")
