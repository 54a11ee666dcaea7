"""The search pass of a day's fetch: pages of the events search, oldest first, landing the day's events.

With `keep="logged"` it lands the events whose request IDs are queued and jumps over stretches of time holding
no queued ID; with `keep="all"` it lands every event of the day. Under `auto` it compares, before every page,
what the rest would cost: the pages needed to cover the queued IDs still ahead (from the event density seen so
far) against one call per ID, and stops paging as soon as fetching by ID is cheaper. The first page is the
probe: it starts at the earliest queued ID, so it returns at least that event and never costs more than the
call it replaces. What the search does not return is left to the by-ID pass.

Exact pagination (API.md 17.4: v3's pagination key is a millisecond, ties at a page edge can be skipped or
repeated): the next page is asked with `start` one millisecond before the last timestamp seen, so the boundary
millisecond is read again, and events are de-duplicated by request ID. A full page that lies entirely in one
millisecond cannot move on that way: that millisecond is then read alone at the largest page size, and only if
even that is full (more than 200 events in one ms) is the rest left to the by-ID pass (`saturated_ms`).

After every landed page the state store records where the next page starts, so a run killed mid-pagination
resumes from its last landed page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipelines.api.results import FetchResult
from pipelines.api.search import EventSearch, SearchFailed, SearchPage, SearchUnavailable
from transforms.request_ids import DAY_MS, prefix_ms

if TYPE_CHECKING:
    from pipelines.fetch.day import DayFetch

# The ID prefix is close to, not equal to, the event timestamp (API.md 6): the search window around a queued
# ID reaches this far on both sides.
PREFIX_MARGIN_MS = 10_000


@dataclass
class Cursor:
    """Where paging resumes: the next page asks for timestamps > `after`; `done` once the window is covered."""

    api_version: int
    keep: str
    after_start: int
    after: int
    before: int
    pages: int = 0
    done: bool = False

    @classmethod
    def resume(cls, saved: dict | None, fresh: Cursor) -> Cursor:
        """The saved cursor when it belongs to the same search (version, keep) and window, else `fresh`."""
        if not saved or saved.get("api_version") != fresh.api_version or saved.get("keep") != fresh.keep:
            return fresh
        done = bool(saved.get("done")) and saved.get("before", 0) >= fresh.before
        done = done and saved.get("after_start", fresh.after) <= fresh.after
        after = max(fresh.after, int(saved.get("after", fresh.after)))
        return cls(
            fresh.api_version, fresh.keep, fresh.after_start, after, fresh.before, int(saved.get("pages", 0)), done
        )


def pages_to_cover(prefixes: Sequence[int], span_ms: float, margin_ms: int) -> int:
    """Greedy count of pages (each covering `span_ms` from its start) needed to reach every sorted prefix."""
    pages, covered_until = 0, -math.inf
    for p in prefixes:
        if p + margin_ms > covered_until:
            pages += 1
            covered_until = p - margin_ms + span_ms
    return pages


class SearchPass:
    """The search pass of `fetch` for the queued IDs `todo`; see the module docstring."""

    def __init__(self, fetch: DayFetch, todo: Sequence[str], margin_ms: int = PREFIX_MARGIN_MS) -> None:
        settings = fetch.client.settings
        self.fetch, self.report, self.margin = fetch, fetch.report, margin_ms
        self.keep, self.auto = settings.search_keep, settings.fetch_strategy == "auto"
        self.search = EventSearch(fetch.client, settings.search_page_size)
        self.todo = set(todo)
        oldest = int(time.time() * 1000) - settings.retention_days * DAY_MS + DAY_MS  # near retention: by ID
        located = [(p, rid) for rid in todo if (p := prefix_ms(rid)) is not None and p > oldest]
        self.ahead = sorted(located)  # queued IDs the search may still return, by prefix
        self.found: set[str] = set()
        self.scanned_ms = 0
        self.events_seen = 0

    def run(self) -> None:
        window = self._window()
        if window is None:
            return
        after, before = window
        fresh = Cursor(self.search.dialect.version, self.keep, after, after, before)
        cursor = Cursor.resume(self.fetch.state.search_cursor(self.fetch.day), fresh)
        if cursor.done:
            self.report.search_stopped = "resumed_done"
            return
        try:
            self._page_through(cursor)
        except SearchUnavailable as exc:
            self.report.search_stopped = "unavailable"
            self.fetch.log(f"events search unusable ({exc}): fetching the rest by ID")
        except SearchFailed as exc:
            self.report.search_stopped = "failed"
            self.fetch.log(f"events search failed ({exc}): fetching the rest by ID")

    def _window(self) -> tuple[int, int] | None:
        """(after, before), both exclusive, or None when there is nothing to search."""
        if self.keep == "all":
            day = self.fetch.day
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
            return start - 1, start + DAY_MS
        if not self.ahead:
            return None
        return self.ahead[0][0] - self.margin - 1, self.ahead[-1][0] + self.margin + 1

    def _page_through(self, cursor: Cursor) -> None:
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
            if self.auto and self.keep == "logged" and not self._search_is_cheaper():
                self.report.search_stopped = "cheaper_by_id"
                return
            page = self.search.page(cursor.after, cursor.before)
            self._land(page, cursor)
            cursor.pages += 1
            cursor.after, cursor.done = self._next_after(page, cursor)
            self.fetch.state.save_search_cursor(self.fetch.day, asdict(cursor))
        self.report.search_stopped = self.report.search_stopped or "complete"

    def _search_is_cheaper(self) -> bool:
        """Pages still needed (at the density seen so far) < one call per queued ID still ahead."""
        if not self.events_seen:
            return True  # the probe: it starts at the first queued ID, so it replaces at least that call
        span = self.search.page_size * self.scanned_ms / self.events_seen
        prefixes = [p for p, _ in self.ahead]
        return pages_to_cover(prefixes, span, self.margin) < len(prefixes)

    def _drop_passed(self, after: int) -> None:
        """Forget queued IDs that are found, or whose window the search has read past without finding them."""
        self.ahead = [(p, rid) for p, rid in self.ahead if rid not in self.found and p + self.margin > after]

    def _land(self, page: SearchPage, cursor: Cursor) -> None:
        report = self.report
        report.search_pages += 1
        report.search_calls += page.attempts
        report.progress.api_calls += page.attempts
        report.search_events_seen += len(page.events)
        now = datetime.now(UTC)
        version = self.search.dialect.version
        landed: list[FetchResult] = []
        for rid, ts, body in page.events:
            report.search_events_unkeyed += rid is None
            if rid is None or rid in self.found or rid in self.fetch.ok:
                continue
            if self.keep == "logged" and rid not in self.todo:
                continue
            if self.keep == "all" and rid not in self.todo and ts is not None and not cursor.after < ts < cursor.before:
                continue  # a server reading the window bounds inclusively must not leak the next day in
            self.found.add(rid)
            landed.append(
                FetchResult(rid, "ok", 200, None, None, page.attempts, page.latency_ms, now, version, "search", body)
            )
        if self.keep == "all" and landed:  # unlogged events too: an erased one must not come back
            erased = self.fetch.state.erased_among(r.request_id for r in landed)
            landed = [r for r in landed if r.request_id not in erased]
        self.fetch.land(landed)

    def _next_after(self, page: SearchPage, cursor: Cursor) -> tuple[int, bool]:
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
        if self.search.page_size < self.search.max_limit:
            whole = self.search.page(last - 1, last + 1, limit=self.search.max_limit)
            self._land(whole, cursor)
            if not whole.has_more:
                return last, False
        self.report.saturated_ms += 1
        self.fetch.log(
            f"more than {self.search.max_limit} events at {last} ms: the search cannot list them all, "
            "the by-ID pass will"
        )
        return last, False
