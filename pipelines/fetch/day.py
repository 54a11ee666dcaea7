"""One day's fetch: the logged request IDs still without a final outcome, landed in bronze as cheaply as possible.

`FPWH_FETCH_STRATEGY` decides how (see `pipelines.fetch.search` for the search pass):
- `by_id`: `GET /events/{id}` per queued request ID;
- `search`: pages of the events search first, then by ID whatever the search did not return;
- `auto` (default): like `search`, but paging stops as soon as fetching the rest by ID is cheaper.

Results land in bronze in small batches (`Pacing`: every few seconds or hundred results), so a run killed
mid-fetch loses only the batch in flight, and a re-run fetches only what has no final outcome (0 calls for a
finished day). What bronze already holds is read once, when the run holds the day's fetch lease
(`pipelines.fetch.lease`): a second run of the same day waits for the first, then fetches only what it left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from pipelines.api.client import FingerprintClient
from pipelines.api.results import FetchResult
from pipelines.fetch.lease import day_fetch_lease
from pipelines.fetch.progress import Progress, Reporter
from pipelines.fetch.search import SearchPass
from pipelines.state import StateStore
from pipelines.storage.bronze import FINAL_OUTCOMES, Bronze

Log = Callable[[str], None]


@dataclass(frozen=True)
class Pacing:
    """How often results land in bronze (seconds or rows, whichever first) and progress is logged."""

    flush_s: float = 2.0
    flush_rows: int = 500
    progress_s: float = 10.0


@dataclass
class FetchReport:
    """What fetching a day cost and produced, for run metadata."""

    strategy: str
    keep: str
    progress: Progress
    search_pages: int = 0
    search_calls: int = 0
    search_events_seen: int = 0
    search_events_unkeyed: int = 0  # no request ID in the event (identification and botd failed)
    saturated_ms: int = 0
    search_stopped: str = ""  # why paging ended: complete, cheaper_by_id, unavailable, failed, resumed_done
    by_id_requested: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def search_events_landed(self) -> int:
        return self.progress.by_search

    @property
    def by_id_calls(self) -> int:
        return self.progress.api_calls - self.search_calls

    @property
    def api_calls(self) -> int:
        return self.progress.api_calls

    @property
    def results(self) -> int:
        """Outcomes landed in bronze by this run (one per event or ID)."""
        return self.progress.by_search + self.progress.by_id

    @property
    def calls_per_event(self) -> float:
        return round(self.api_calls / self.results, 4) if self.results else 0.0

    @property
    def method(self) -> str:
        if self.search_pages and self.by_id_requested:
            return "search+by_id"
        return "search" if self.search_pages else "by_id" if self.by_id_requested else "none"


class DayFetch:
    """Fetch `day`'s queued request IDs into `bronze` through `client`; `run` returns the FetchReport."""

    def __init__(
        self,
        day: date,
        client: FingerprintClient,
        bronze: Bronze,
        state: StateStore,
        log: Log,
        pacing: Pacing = Pacing(),
    ) -> None:
        self.day, self.client, self.bronze, self.state, self.log = day, client, bronze, state, log
        self.pacing = pacing
        self.ok: set[str] = set()
        self.final: set[str] = set()

    def run(self, queue: Sequence[str]) -> FetchReport:
        """Fetch every queued ID without a final outcome, with the configured strategy, holding the day's lease."""
        with day_fetch_lease(self.state, self.day, self.log):
            return self._run(queue)

    def _read_bronze(self) -> None:
        """What bronze holds now: read under the lease, so what a run before us landed is never fetched again."""
        outcomes = self.bronze.outcomes(self.day)
        self.ok = set(outcomes.filter(outcomes["outcome"] == "ok")["request_id"].to_list())
        self.final = set(outcomes.filter(outcomes["outcome"].is_in(FINAL_OUTCOMES))["request_id"].to_list())

    def _run(self, queue: Sequence[str]) -> FetchReport:
        self._read_bronze()
        settings = self.client.settings
        todo = [rid for rid in dict.fromkeys(queue) if rid not in self.final]
        self.queued = set(todo)
        report = FetchReport(settings.fetch_strategy, settings.search_keep, Progress(len(todo)))
        self.report = report
        with Reporter(report.progress, self.log, self.pacing.progress_s):
            if settings.fetch_strategy != "by_id":
                SearchPass(self, todo).run()
            rest = [rid for rid in todo if rid not in self.final]
            report.by_id_requested = len(rest)
            self._fetch_by_id(rest)
        return report

    def land(self, results: Sequence[FetchResult]) -> None:
        """Append `results` to bronze and count them."""
        self.bronze.append(self.day, results)
        for result in results:
            settled = result.outcome in FINAL_OUTCOMES and result.request_id not in self.final
            self.report.progress.add(result, settled and result.request_id in self.queued)
            if result.outcome in FINAL_OUTCOMES:
                self.final.add(result.request_id)
            if result.outcome == "ok":
                self.ok.add(result.request_id)

    def _fetch_by_id(self, request_ids: Sequence[str]) -> None:
        buffer: list[FetchResult] = []
        last_flush = time.monotonic()
        try:
            for result in self.client.fetch_events(request_ids):
                buffer.append(result)
                if time.monotonic() - last_flush >= self.pacing.flush_s or len(buffer) >= self.pacing.flush_rows:
                    self.land(buffer)
                    buffer, last_flush = [], time.monotonic()
        finally:
            if buffer:
                self.land(buffer)
