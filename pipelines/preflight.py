"""Everything `fpwh` checks before any work starts, each problem as one line naming what to change.

The settings themselves are `Settings.from_env`'s; here is what only a command knows: the days it was asked for
(inside the partitions: FPWH_START_DATE to the last complete UTC day), whether the log glob matches a file, whether
the Dagster instance folder is usable, and (for `fpwh check`) whether the Server API accepts the key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pipelines.api.client import FingerprintClient
from pipelines.api.errors import FatalApiError
from pipelines.api.ratelimit import limiter_for
from pipelines.api.search import EventSearch, SearchFailed, SearchUnavailable
from pipelines.api.secret import Secret
from pipelines.logs import find_log_files
from pipelines.settings import Settings
from pipelines.state import StateStore


class Problems(Exception):
    """Problems found before any work started, one line each; the command exits 2."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def last_complete_day(now: datetime | None = None) -> date:
    """The newest daily partition: yesterday in UTC (today's is not complete yet)."""
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()


def parse_days(text: str) -> tuple[list[date], list[str]]:
    """`DAY` or `START..END` (inclusive) as the list of days, or the problem with the argument."""
    start_text, _, end_text = text.partition("..")
    try:
        start = date.fromisoformat(start_text)
        end = date.fromisoformat(end_text) if end_text else start
    except ValueError:
        return [], [f"DAY {text!r}: not a day; give YYYY-MM-DD or START..END, e.g. 2026-11-01..2026-11-07"]
    if end < start:
        return [], [f"DAY {text!r}: the range ends before it starts; give START..END with START <= END"]
    return [start + timedelta(days=n) for n in range((end - start).days + 1)], []


def day_problems(days: list[date], settings: Settings, today_last: date) -> list[str]:
    """Days outside the partitions, named with the valid range and what to change."""
    first = settings.schedule.first_day
    valid = f"choose days from {first} to {today_last}"
    problems = []
    if days and days[0] < first:
        problems.append(
            f"FPWH_START_DATE={settings.schedule.start_date!r}: day {days[0]} is before the first partition; "
            f"{valid}, or set FPWH_START_DATE earlier"
        )
    if days and days[-1] > today_last:
        problems.append(f"DAY {days[-1]}: not complete yet (days end at midnight UTC); {valid}")
    return problems


def log_problems(settings: Settings) -> list[str]:
    if find_log_files(settings.logs.glob):
        return []
    return [f"FPWH_LOG_GLOB={settings.logs.glob!r}: matches no file; point it at your application's log files"]


@dataclass(frozen=True)
class ApiProbe:
    """The answer to one events-search call: whether the key was accepted, and what came back."""

    ok: bool
    message: str


def probe_api(settings: Settings, key: str, state: StateStore) -> ApiProbe:
    """One search call (limit 1, the last 24 h), retried at most once: reaches the API and proves the key."""
    api = settings.replace(api={"max_attempts": min(settings.api.max_attempts, 2)}).api
    where = f"{api.root_url} (Server API v{api.api_version})"
    secret = Secret(key)
    now_ms = int(time.time() * 1000)
    started = time.perf_counter()
    try:
        with FingerprintClient(api, secret, limiter_for(api, secret, state.rate_limit_dir)) as client:
            page = EventSearch(client).page(now_ms - 86_400_000, now_ms, limit=1)
    except FatalApiError as error:
        return ApiProbe(False, f"{where}: {error}")
    except SearchUnavailable as error:
        return ApiProbe(True, f"{where}: key accepted; the events search is not available ({error}): fetch by ID")
    except SearchFailed as error:
        return ApiProbe(False, f"{where}: not reached: {error}; check FINGERPRINT_REGION / FINGERPRINT_API_URL")
    took = (time.perf_counter() - started) * 1000
    found = f"{len(page.events)} event" + ("" if len(page.events) == 1 else "s")
    return ApiProbe(
        True, f"{where}: key accepted; the events search returned {found} of the last 24 h in {took:.0f} ms"
    )
