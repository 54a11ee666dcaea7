"""Fetch request IDs into bronze: land results in small batches, report progress on a clock.

Kept free of Dagster so it can be driven by an asset, a script or a test alike. Results are appended to
bronze at least every `flush_s` seconds, so a run killed mid-fetch loses only the batch in flight; progress
(done/total, rate, ETA) is logged every `progress_s` seconds by a timer thread, even while the client is
backing off and no result arrives.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from pipelines.api.client import FingerprintClient
from pipelines.api.results import FetchResult
from pipelines.storage.bronze import Bronze


@dataclass
class FetchSummary:
    """What a fetch run did, without the bodies (they are in bronze)."""

    requested: int
    done: int = 0
    api_calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failed_codes: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def add(self, result: FetchResult) -> None:
        self.done += 1
        self.api_calls += result.attempts
        self.outcomes[result.outcome] += 1
        if result.outcome == "failed":
            self.failed_codes[result.error_code or "unknown"] += 1

    def progress_line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.requested - self.done) / rate:.0f} s" if rate > 0 else "unknown"
        return f"fetched {self.done}/{self.requested} events, {rate:.1f}/s, ETA {eta}"


def fetch_into_bronze(
    client: FingerprintClient,
    bronze: Bronze,
    day: date,
    request_ids: Sequence[str],
    log: Callable[[str], None],
    flush_s: float = 2.0,
    flush_rows: int = 500,
    progress_s: float = 10.0,
) -> FetchSummary:
    """Fetch `request_ids`, landing every result in `bronze` under `day`; returns the run's summary."""
    summary = FetchSummary(requested=len(request_ids))
    stop = threading.Event()
    reporter = threading.Thread(target=_report, args=(summary, log, stop, progress_s), daemon=True)
    reporter.start()
    buffer: list[FetchResult] = []
    last_flush = time.monotonic()
    try:
        for result in client.fetch_events(request_ids):
            buffer.append(result)
            summary.add(result)
            if time.monotonic() - last_flush >= flush_s or len(buffer) >= flush_rows:
                bronze.append(day, buffer)
                buffer, last_flush = [], time.monotonic()
    finally:
        stop.set()
        if buffer:
            bronze.append(day, buffer)
        reporter.join()
        log(summary.progress_line())
    return summary


def _report(summary: FetchSummary, log: Callable[[str], None], stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        log(summary.progress_line())
