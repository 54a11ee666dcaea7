"""What a day's fetch has landed and spent so far, logged on a clock (even while the API is slow or backing off)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.api.results import FetchResult


@dataclass
class Progress:
    """Counts shared by the search pass and the by-ID pass of one day (one writer thread at a time)."""

    to_do: int  # request IDs queued at the start
    by_search: int = 0  # events landed from search pages
    by_id: int = 0  # outcomes landed by GET /events/{id}
    api_calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failed_codes: Counter[str] = field(default_factory=Counter)
    logged_left: int = 0  # queued IDs without a final outcome yet
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.logged_left = self.to_do

    def add(self, result: FetchResult, settles_a_queued_id: bool) -> None:
        if result.method == "search":
            self.by_search += 1
        else:
            self.by_id += 1
            self.api_calls += result.attempts
        self.outcomes[result.outcome] += 1
        if result.outcome == "failed":
            self.failed_codes[result.error_code or "unknown"] += 1
        self.logged_left -= settles_a_queued_id

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        landed = self.by_search + self.by_id
        rate = landed / elapsed if elapsed > 0 else 0.0
        return (
            f"landed {landed} events ({self.by_search} by search, {self.by_id} by ID), {self.api_calls} API calls, "
            f"{self.logged_left} of {self.to_do} logged IDs still to do, {rate:.1f}/s"
        )


class Reporter:
    """Logs `progress.line()` every `every_s` seconds until closed, then once more."""

    def __init__(self, progress: Progress, log: Callable[[str], None], every_s: float) -> None:
        self.progress, self.log, self.every_s = progress, log, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fp-fetch-progress")

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.log(self.progress.line())

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.log(self.progress.line())
