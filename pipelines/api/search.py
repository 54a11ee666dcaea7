"""Events search: one Server API call returns a page of many full events of a time window.

`EventSearch.page(after_ms, before_ms)` asks for the oldest events with `after_ms < timestamp < before_ms`
through `FingerprintClient.call`, so a page costs the key's budget and is retried and judged like a fetch by ID
(429/`Retry-After`, in-200 throttles, 5xx, 403 → `FatalApiError`). Paging is the caller's (`pipelines.fetch`):
it never passes the server's pagination key on, but moves `after_ms` to one millisecond before the last timestamp
seen, so the boundary millisecond is read again and nothing depends on how the server treats ties.

Each event of a page is re-serialized with orjson (key order kept), so its bytes are what `GET /events/{id}`
returns for it and flatten to identical rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pipelines.api.client import FingerprintClient
from pipelines.api.exchange import BodyProblem


class SearchUnavailable(RuntimeError):
    """The search endpoint is absent (404) or refuses the query (4xx): fetch by ID instead."""


class SearchFailed(RuntimeError):
    """A search page kept failing after every retry: the run stops paging, a re-run resumes from the cursor."""


@dataclass(frozen=True)
class SearchPage:
    """One page: its events as (request ID or None, timestamp or None, event JSON bytes), oldest first."""

    events: list[tuple[str | None, int | None, bytes]]
    has_more: bool
    last_timestamp: int | None
    attempts: int
    latency_ms: float


class EventSearch:
    """Pages of the events search through `client`."""

    def __init__(self, client: FingerprintClient, page_size: int | None = None) -> None:
        self.client = client
        self.dialect = client.dialect
        self.max_limit = self.dialect.search_max_limit
        self.page_size = min(page_size or self.max_limit, self.max_limit)

    def page(self, after_ms: int, before_ms: int, limit: int | None = None) -> SearchPage:
        """The oldest `limit` (default `page_size`) events with after_ms < timestamp < before_ms, retried."""
        params = {"limit": limit or self.page_size, "start": after_ms, "end": before_ms, "reverse": "true"}
        answer = self.client.call(self.dialect.search_path, self._check, params)
        refused = answer.status is not None and 400 <= answer.status < 500 and answer.status not in (408, 429)
        if answer.outcome == "not_found" or (answer.outcome == "failed" and refused):
            raise SearchUnavailable(f"the events search answered HTTP {answer.status}: {answer.error_message}")
        if answer.outcome == "failed":
            raise SearchFailed(
                f"a search page failed {answer.attempts} times ({answer.error_code}: {answer.error_message}); "
                "re-run to resume from the saved cursor"
            )
        return self._page(answer.parsed, answer.attempts, answer.latency_ms)

    def _check(self, parsed: Any) -> BodyProblem | None:
        """A page is retried whole when it is not a list of events or an event is throttled: never stored half."""
        items = parsed.get("events") if isinstance(parsed, dict) else None
        if not isinstance(items, list):
            return "transient", "bad_payload", "search response without an events list"
        for item in items:
            if self.dialect.search_item_identity(item) is None:
                return "transient", "bad_payload", "search item that is not an event"
            throttled = self.dialect.throttle_problem(item)
            if throttled:
                return "throttled", "throttled", f"search page: {throttled}"
        return None

    def _page(self, parsed: dict[str, Any], attempts: int, latency_ms: float) -> SearchPage:
        events = [(*self.dialect.search_item_identity(item), orjson.dumps(item)) for item in parsed["events"]]
        key = parsed.get(self.dialect.pagination_key)
        last = next((ts for _, ts, _ in reversed(events) if ts is not None), None)
        if self.dialect.version == 3 and isinstance(key, str) and key.isdigit():
            last = int(key)  # v3's key is the last event's timestamp, even when that event has no identification
        return SearchPage(events, key is not None and bool(events), last, attempts, latency_ms)  # type: ignore[arg-type]
