"""How a day's events are fetched: one call per request ID, pages of the events search, or the cheaper of both.

- `by_id`: `GET /events/{id}` per queued request ID (`pipelines.fetching`).
- `search`: page through the events search, oldest first, and land the events whose request IDs are queued
  (`keep="logged"`) or every event of the day (`keep="all"`); then fetch by ID whatever the search did not
  return (IDs logged near midnight whose event lies outside the window, IDs the API does not know, ...).
- `auto` (default): like `search`, but before every page it compares what the rest would cost: the pages
  needed to cover the queued IDs still ahead (from the event density seen so far) against one call per ID.
  As soon as fetching by ID is cheaper it stops paging. The first page is the probe: it starts at the
  earliest queued ID, so it returns at least that event and never costs more than the call it replaces.

Exact pagination (API.md 17.4: v3's pagination key is a millisecond, ties at a page edge can be skipped or
repeated): the next page is asked with `start` one millisecond before the last timestamp seen, so the boundary
millisecond is read again, and events are de-duplicated by request ID. A full page that lies entirely in one
millisecond cannot move on that way: that millisecond is then read alone at the largest page size, and only
if even that is full (more than 200 events in one ms) is the rest left to the by-ID pass (`saturated_ms`).
With `keep="logged"` the search also jumps over stretches holding no queued ID.

After every landed page a cursor `<warehouse>/state/search_cursor/day=YYYY-MM-DD.json` records where the next
page starts, so a run killed mid-pagination resumes from the last landed page.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import orjson

from pipelines.api.client import FingerprintClient
from pipelines.api.results import FetchResult
from pipelines.api.search import EventSearch, SearchFailed, SearchPage, SearchUnavailable
from pipelines.fetching import FetchSummary, fetch_into_bronze
from pipelines.storage.atomic import write_atomically
from pipelines.storage.bronze import Bronze

FetchStrategy = Literal["by_id", "search", "auto"]
SearchKeep = Literal["logged", "all"]
STRATEGIES: tuple[str, ...] = ("by_id", "search", "auto")
KEEPS: tuple[str, ...] = ("logged", "all")
DAY_MS = 86_400_000
# The ID prefix is close to, not equal to, the event timestamp (API.md 6): the search window around a queued
# ID reaches this far on both sides.
PREFIX_MARGIN_MS = 10_000
_PREFIX = re.compile(r"^(\d{13})\.")


@dataclass
class DayFetch:
    """What fetching a day cost and produced, for run metadata."""

    strategy: str
    keep: str
    by_id: FetchSummary = field(default_factory=lambda: FetchSummary(requested=0))
    search_pages: int = 0
    search_calls: int = 0
    search_events_seen: int = 0
    search_events_landed: int = 0
    search_events_unkeyed: int = 0  # no request ID in the event (identification and botd failed)
    saturated_ms: int = 0
    search_stopped: str = ""  # why paging ended: complete, cheaper_by_id, unavailable, failed, resumed_done
    started: float = field(default_factory=time.monotonic)

    @property
    def api_calls(self) -> int:
        return self.search_calls + self.by_id.api_calls

    @property
    def results(self) -> int:
        """Outcomes landed in bronze by this run (one per event or ID)."""
        return self.search_events_landed + self.by_id.done

    @property
    def calls_per_event(self) -> float:
        return round(self.api_calls / self.results, 4) if self.results else 0.0

    @property
    def method(self) -> str:
        by_id = bool(self.by_id.requested)
        if self.search_pages and by_id:
            return "search+by_id"
        return "search" if self.search_pages else "by_id" if by_id else "none"


@dataclass
class _Cursor:
    """Where paging resumes: the next page asks for timestamps > `after`; `done` once the window is covered."""

    path: Path
    api_version: int
    keep: str
    after: int
    before: int
    pages: int = 0
    done: bool = False

    @classmethod
    def load(cls, path: Path, api_version: int, keep: str, after: int, before: int) -> _Cursor:
        fresh = cls(path, api_version, keep, after, before)
        try:
            saved = orjson.loads(path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return fresh
        if saved.get("api_version") != api_version or saved.get("keep") != keep:
            return fresh
        done = bool(saved.get("done")) and saved.get("before", 0) >= before and saved.get("after_start", after) <= after
        resumed_after = max(after, int(saved.get("after", after)))
        return cls(path, api_version, keep, resumed_after, before, int(saved.get("pages", 0)), done)

    def save(self, after_start: int) -> None:
        state = {
            "api_version": self.api_version,
            "keep": self.keep,
            "after_start": after_start,
            "after": self.after,
            "before": self.before,
            "pages": self.pages,
            "done": self.done,
        }
        write_atomically(self.path, lambda fh: fh.write(orjson.dumps(state, option=orjson.OPT_INDENT_2)))


def cursor_path(state_dir: Path, day: date) -> Path:
    return Path(state_dir) / "search_cursor" / f"day={day.isoformat()}.json"


def prefix_ms(request_id: str) -> int | None:
    match = _PREFIX.match(request_id)
    return int(match.group(1)) if match else None


def pages_to_cover(prefixes: Sequence[int], span_ms: float, margin_ms: int) -> int:
    """Greedy count of pages (each covering `span_ms` from its start) needed to reach every sorted prefix."""
    pages, covered_until = 0, -math.inf
    for p in prefixes:
        if p + margin_ms > covered_until:
            pages += 1
            covered_until = p - margin_ms + span_ms
    return pages


class _DaySearch:
    """The search phase of one day; see the module docstring."""

    def __init__(
        self,
        search: EventSearch,
        bronze: Bronze,
        day: date,
        todo: Sequence[str],
        keep: str,
        auto: bool,
        report: DayFetch,
        log: Callable[[str], None],
        margin_ms: int,
    ) -> None:
        self.search, self.bronze, self.day, self.keep, self.auto = search, bronze, day, keep, auto
        self.report, self.log, self.margin = report, log, margin_ms
        self.todo = set(todo)
        outcomes = bronze.outcomes(day)
        # only `ok` is skipped: an event found now beats an earlier not_found (bronze precedence)
        self.done = set(outcomes.filter(outcomes["outcome"] == "ok")["request_id"].to_list())
        self.found: set[str] = set()
        retention_ms = search.client.settings.retention_days * DAY_MS
        oldest = int(time.time() * 1000) - retention_ms + DAY_MS  # IDs near retention: by ID, with the reason
        located = [(p, rid) for rid in todo if (p := prefix_ms(rid)) is not None and p > oldest]
        self.ahead = sorted(located)  # queued IDs the search may still return, by prefix
        self.scanned_ms = 0
        self.events_seen = 0

    def window(self) -> tuple[int, int] | None:
        """(after, before), both exclusive, or None when there is nothing to search."""
        if self.keep == "all":
            start = int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC).timestamp() * 1000)
            return start - 1, start + DAY_MS
        if not self.ahead:
            return None
        return self.ahead[0][0] - self.margin - 1, self.ahead[-1][0] + self.margin + 1

    def run(self, cursor: _Cursor, after_start: int) -> None:
        while not cursor.done:
            self._drop_passed(cursor.after)
            if self.keep == "logged":
                if not self.ahead:
                    cursor.done = True
                    break
                cursor.after = max(cursor.after, self.ahead[0][0] - self.margin - 1)  # jump over a gap
            if cursor.after + 1 >= cursor.before:
                cursor.done = True
                break
            if self.auto and self.keep == "logged" and not self._search_is_cheaper(cursor):
                self.report.search_stopped = "cheaper_by_id"
                return
            page = self.search.page(cursor.after, cursor.before)
            self._land(page, cursor)
            cursor.pages += 1
            cursor.after, cursor.done = self._next_after(page, cursor)
            cursor.save(after_start)
            if cursor.pages % 25 == 0:
                r = self.report
                self.log(
                    f"search: {r.search_pages} pages, {r.search_events_landed} events landed, {r.search_calls} calls"
                )
        self.report.search_stopped = self.report.search_stopped or "complete"

    def _search_is_cheaper(self, cursor: _Cursor) -> bool:
        """Pages still needed (at the density seen so far) < one call per queued ID still ahead."""
        if not self.events_seen:
            return True  # the probe: it starts at the first queued ID, so it replaces at least that call
        span = self.search.page_size * self.scanned_ms / self.events_seen
        prefixes = [p for p, _ in self.ahead]
        return pages_to_cover(prefixes, span, self.margin) < len(prefixes)

    def _drop_passed(self, after: int) -> None:
        """Forget queued IDs that are found, or whose window the search has read past without finding them."""
        self.ahead = [(p, rid) for p, rid in self.ahead if rid not in self.found and p + self.margin > after]

    def _land(self, page: SearchPage, cursor: _Cursor) -> None:
        self.report.search_pages += 1
        self.report.search_calls += page.attempts
        self.report.search_events_seen += len(page.events)
        now = datetime.now(UTC)
        version = self.search.dialect.version
        landed: list[FetchResult] = []
        for rid, ts, body in page.events:
            self.report.search_events_unkeyed += rid is None
            if rid is None or rid in self.found or rid in self.done:
                continue
            if self.keep == "logged" and rid not in self.todo:
                continue
            if self.keep == "all" and rid not in self.todo and ts is not None and not cursor.after < ts < cursor.before:
                continue  # a server reading the window bounds inclusively must not leak the next day in
            self.found.add(rid)
            landed.append(
                FetchResult(rid, "ok", 200, None, None, page.attempts, page.latency_ms, now, version, "search", body)
            )
        self.bronze.append(self.day, landed)
        self.report.search_events_landed += len(landed)

    def _next_after(self, page: SearchPage, cursor: _Cursor) -> tuple[int, bool]:
        """The next page's exclusive start, one ms before the last timestamp (the boundary is read again)."""
        after = cursor.after
        if not page.has_more or not page.events or page.last_timestamp is None:
            return after, True
        last = page.last_timestamp
        self.events_seen += len(page.events)
        self.scanned_ms += max(1, last - after)
        if last - 1 > after:
            return last - 1, False
        # The whole page lies in millisecond `last`: read that millisecond alone, as large a page as allowed.
        largest = self.search.dialect.max_limit
        if self.search.page_size < largest:
            whole = self.search.page(last - 1, last + 1, limit=largest)
            self._land(whole, cursor)
            if not whole.has_more:
                return last, False
        self.report.saturated_ms += 1
        self.log(f"more than {largest} events at {last} ms: the search cannot list them all, the by-ID pass will")
        return last, False


def fetch_day(
    client: FingerprintClient,
    bronze: Bronze,
    state_dir: Path,
    day: date,
    todo: Sequence[str],
    log: Callable[[str], None],
    strategy: str = "auto",
    keep: str = "logged",
    page_size: int | None = None,
    margin_ms: int = PREFIX_MARGIN_MS,
) -> DayFetch:
    """Fetch the queued request IDs `todo` of `day` into bronze with `strategy`; returns what it cost."""
    if strategy not in STRATEGIES:
        raise ValueError(f"FPWH_FETCH_STRATEGY={strategy!r} is not one of {', '.join(STRATEGIES)}")
    if keep not in KEEPS:
        raise ValueError(f"FPWH_SEARCH_KEEP={keep!r} is not one of {', '.join(KEEPS)}")
    report = DayFetch(strategy, keep)
    if strategy != "by_id":
        _search_phase(client, bronze, state_dir, day, todo, log, strategy, keep, page_size, margin_ms, report)
    done = bronze.done_ids(day)
    rest = [rid for rid in todo if rid not in done]
    report.by_id = fetch_into_bronze(client, bronze, day, rest, log)
    return report


def _search_phase(
    client: FingerprintClient,
    bronze: Bronze,
    state_dir: Path,
    day: date,
    todo: Sequence[str],
    log: Callable[[str], None],
    strategy: str,
    keep: str,
    page_size: int | None,
    margin_ms: int,
    report: DayFetch,
) -> None:
    try:
        search = EventSearch(client, page_size)
    except SearchUnavailable as exc:
        report.search_stopped = "unavailable"
        log(f"{exc}: fetching by ID")
        return
    phase = _DaySearch(search, bronze, day, todo, keep, strategy == "auto", report, log, margin_ms)
    window = phase.window()
    if window is None:
        return
    cursor = _Cursor.load(cursor_path(state_dir, day), search.dialect.version, keep, *window)
    if cursor.done:
        report.search_stopped = "resumed_done"
        return
    try:
        phase.run(cursor, window[0])
    except SearchUnavailable as exc:
        report.search_stopped = "unavailable"
        log(f"events search unusable ({exc}): fetching the rest by ID")
    except SearchFailed as exc:
        report.search_stopped = "failed"
        log(f"events search failed ({exc}): fetching the rest by ID")
