"""The refresh of one day: re-read the events bronze holds and land the versions that changed upstream.

Customers change events after the fact (linked ID, tag, suspect: v3 up to 10 days, v4 up to a month), and a
visitor deletion removes them. `DayRefresh.run()` re-reads the day's stored events (the latest `ok` version of
each request ID, fetched with the client's API version; other versions are left as they are) and compares each
with what the API returns now (`transforms.versions.event_digest`: key order and formatting do not count):
- the search pass pages through the events search over the stored events' timestamps, oldest first, jumping over
  stretches without a stored event, so a day costs about one call per page of events (v3 200, v4 100) in the
  stretches it holds events in. Under FPWH_FETCH_STRATEGY=auto it stops as soon as fetching the rest by ID is
  cheaper (the estimate of `pipelines.fetch.search`); under `by_id` there is no search pass.
- the by-ID pass reads what the search did not return (an event without a timestamp, one in a millisecond
  holding more than a page of events, one the search no longer lists).
A changed event lands in bronze as a new `ok` record (method `search` or `by_id`); an unchanged one costs nothing
more. A 404 for an event inside retention (a day's margin) means it was deleted upstream: it is reported in
`deleted`, never landed and never erased here (erasing belongs to the deletion code). A failure leaves the day
incomplete, so the next run re-reads it.

Pagination is exact as in `pipelines.fetch.search`: the next page starts one millisecond before the last timestamp
seen, and events are de-duplicated by request ID.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from pipelines.api.client import FingerprintClient
from pipelines.api.results import FetchResult
from pipelines.api.search import EventSearch, SearchFailed, SearchPage, SearchUnavailable
from pipelines.fetch.search import pages_to_cover
from pipelines.storage.bronze import Bronze
from transforms.request_ids import DAY_MS, prefix_ms
from transforms.versions import changed_labels, event_digest, labels

Log = Callable[[str], None]
LAND_EVERY = 500


@dataclass(frozen=True)
class Stored:
    """The latest stored version of an event: its digest, timestamp (None: unknown) and labels."""

    digest: bytes
    timestamp: int | None
    labels: dict[str, Any]


@dataclass
class DayRefreshReport:
    """What re-reading one day cost and found."""

    day: date
    checked: int = 0  # stored events re-read (of the client's API version)
    other_version: int = 0  # stored events of another API version, left as they are
    search_pages: int = 0
    search_calls: int = 0
    by_id_calls: int = 0
    changed: dict[str, list[str]] = field(default_factory=dict)  # request ID -> what changed
    deleted: list[str] = field(default_factory=list)
    expired: int = 0  # 404 outside retention: aged out, not deleted
    failed: int = 0
    search_stopped: str = ""

    @property
    def calls(self) -> int:
        return self.search_calls + self.by_id_calls

    @property
    def complete(self) -> bool:
        """Every stored event was compared with the API's answer (a re-run need not read the day again)."""
        return not self.failed and self.search_stopped != "failed"


class DayRefresh:
    """Re-read `day`'s stored events through `client`; land what changed in `bronze`. `run` returns the report."""

    def __init__(self, day: date, client: FingerprintClient, bronze: Bronze, log: Log) -> None:
        self.day, self.client, self.bronze, self.log = day, client, bronze, log
        self.version = client.dialect.version
        self.report = DayRefreshReport(day)
        self.seen: set[str] = set()
        self.pending: list[FetchResult] = []

    def run(self) -> DayRefreshReport:
        stored = self._stored()
        self.report.checked = len(stored)
        try:
            if stored and self.client.settings.fetch_strategy != "by_id":
                self._search(stored)
            rest = [rid for rid in stored if rid not in self.seen]
            self._by_id(rest, stored)
        finally:
            self._land()  # a run the API refuses half-way keeps the changed versions it found
        return self.report

    def _stored(self) -> dict[str, Stored]:
        stored: dict[str, Stored] = {}
        for batch in self.bronze.ok_bodies(self.day):
            for rid, version, body in batch.select("request_id", "api_version", "body").iter_rows():
                if version != self.version:
                    self.report.other_version += 1
                    continue
                stored[rid] = _stored(body, self.client.dialect.search_item_identity, version)
        return stored

    # --- the search pass ------------------------------------------------------------------------------------
    def _search(self, stored: dict[str, Stored]) -> None:
        search = EventSearch(self.client, self.client.settings.search_page_size)
        ahead = sorted((s.timestamp, rid) for rid, s in stored.items() if s.timestamp is not None)
        after, density = ahead[0][0] - 1 if ahead else 0, _Density(search.page_size)
        try:
            while True:
                ahead = [(ts, rid) for ts, rid in ahead if rid not in self.seen and ts > after]
                if not ahead:
                    break
                after = max(after, ahead[0][0] - 1)  # jump over a stretch without a stored event
                if self.client.settings.fetch_strategy == "auto" and not density.search_is_cheaper(ahead):
                    self.report.search_stopped = "cheaper_by_id"
                    return
                page = search.page(after, ahead[-1][0] + 1)
                self._take_page(page, stored)
                if not page.has_more or not page.events or page.last_timestamp is None:
                    break
                density.saw(page, after)
                after = page.last_timestamp - 1 if page.last_timestamp - 1 > after else page.last_timestamp
        except (SearchUnavailable, SearchFailed) as exc:
            self.report.search_stopped = "failed" if isinstance(exc, SearchFailed) else "unavailable"
            self.log(f"refresh of {self.day}: events search unusable ({exc}); re-reading the rest by ID")
        self.report.search_stopped = self.report.search_stopped or "complete"

    def _take_page(self, page: SearchPage, stored: dict[str, Stored]) -> None:
        self.report.search_pages += 1
        self.report.search_calls += page.attempts
        for rid, _, body in page.events:
            if rid is None or rid not in stored or rid in self.seen:
                continue
            self.seen.add(rid)
            if self._changed(rid, body, stored[rid]):
                now, version = datetime.now(UTC), self.version
                self._keep(
                    FetchResult(
                        rid, "ok", 200, None, None, page.attempts, page.latency_ms, now, version, "search", body
                    )
                )

    # --- the by-ID pass -------------------------------------------------------------------------------------
    def _by_id(self, request_ids: Sequence[str], stored: dict[str, Stored]) -> None:
        now_ms = int(time.time() * 1000)
        inside = (self.client.settings.retention_days - 1) * DAY_MS  # a day's margin: retention is not exact
        for result in self.client.fetch_events(request_ids):
            self.report.by_id_calls += result.attempts
            if result.outcome == "ok" and result.body is not None:
                if self._changed(result.request_id, result.body, stored[result.request_id]):
                    self._keep(result)
            elif result.outcome == "not_found":
                age = now_ms - (stored[result.request_id].timestamp or prefix_ms(result.request_id) or now_ms)
                if age < inside:
                    self.report.deleted.append(result.request_id)
                else:
                    self.report.expired += 1
            else:
                self.report.failed += 1

    # --- comparing and landing ------------------------------------------------------------------------------
    def _changed(self, rid: str, body: bytes, before: Stored) -> bool:
        """Whether the API's `body` differs from the stored version; the report notes what changed."""
        now = _stored(body, self.client.dialect.search_item_identity, self.version)
        if now.digest == before.digest:
            return False
        self.report.changed[rid] = changed_labels(before.labels, now.labels) or ["other"]
        return True

    def _keep(self, result: FetchResult) -> None:
        """Queue a changed event's new version for bronze, landing every LAND_EVERY (a kill loses little)."""
        self.pending.append(result)
        if len(self.pending) >= LAND_EVERY:
            self._land()

    def _land(self) -> None:
        self.bronze.append(self.day, self.pending)
        self.pending = []


@dataclass
class _Density:
    """How much time a page of events covers, from the pages read so far (for the `auto` cost estimate)."""

    page_size: int
    events: int = 0
    span_ms: int = 0

    def saw(self, page: SearchPage, after: int) -> None:
        self.events += len(page.events)
        self.span_ms += max(1, (page.last_timestamp or after) - after)

    def search_is_cheaper(self, ahead: Sequence[tuple[int, str]]) -> bool:
        """Pages still needed (at the density seen so far) < one call per stored event still ahead."""
        if not self.events:
            return True  # the probe: it starts at the first stored event, so it replaces at least that call
        span = self.page_size * self.span_ms / self.events
        return pages_to_cover([ts for ts, _ in ahead], span, 0) < len(ahead)


def _stored(body: bytes, identity: Callable[[Any], tuple[str | None, int | None] | None], version: int) -> Stored:
    """A version as the refresh compares it; an unreadable body compares unequal to anything."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Stored(b"", None, {})
    found = identity(event)
    timestamp = found[1] if found else None
    return Stored(event_digest(event), timestamp, labels(event, version) if isinstance(event, dict) else {})
