"""Events search: one Server API call returns a page of many full events of a time window.

`EventSearch.page(after_ms, before_ms)` asks for the oldest events with `after_ms < timestamp < before_ms`
and retries like a fetch by ID: the client's rate limiter, its backoff, its 429/`Retry-After` and in-200
throttle handling, and its 403 → `FatalApiError`. Paging is the caller's (`pipelines.strategy`): it never
passes the server's pagination key on, but moves `after_ms` to one millisecond before the last timestamp
seen, so the boundary millisecond is read again and nothing depends on how the server treats ties.

Each event of a page is re-serialized with orjson (key order kept), so its bytes are what `GET /events/{id}`
returns for it and flatten to identical rows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from pipelines.api.client import _RETRYABLE_STATUS, _TRANSPORT_ERRORS, FingerprintClient, _Attempt, _retry_after_s
from pipelines.api.errors import FatalApiError


class SearchUnavailable(RuntimeError):
    """The search endpoint is absent (404) or refuses the query (4xx): fetch by ID instead."""


class SearchFailed(RuntimeError):
    """A search page kept failing after every retry: the run stops, a re-run resumes from the saved cursor."""


def _v3_event(event: Any) -> tuple[str | None, int | None] | None:
    """(request ID, timestamp) of a v3 search item, None when it is not an event; either may be unknown."""
    products = event.get("products") if isinstance(event, dict) else None
    if not isinstance(products, dict):
        return None
    for product in ("identification", "botd"):  # identification may have failed; botd repeats the ID
        data = (products.get(product) or {}).get("data")
        if isinstance(data, dict) and isinstance(data.get("requestId"), str):
            timestamp = data.get("timestamp")
            return data["requestId"], timestamp if isinstance(timestamp, int) else None
    return None, None


def _v4_event(event: Any) -> tuple[str | None, int | None] | None:
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        return None
    timestamp = event.get("timestamp")
    return event["event_id"], timestamp if isinstance(timestamp, int) else None


@dataclass(frozen=True)
class SearchDialect:
    """What differs between API versions for a search."""

    version: int
    path: str
    max_limit: int  # v3: the documentation's page of 200 (the schema has no maximum); v4: the schema's 100
    key_field: str
    identify: Callable[[Any], tuple[str | None, int | None] | None]


SEARCH_DIALECTS = {
    3: SearchDialect(3, "/events/search", 200, "paginationKey", _v3_event),
    4: SearchDialect(4, "/events", 100, "pagination_key", _v4_event),  # the v4 base URL ends in /v4
}


@dataclass(frozen=True)
class SearchPage:
    """One page: its events as (request ID or None, timestamp or None, event JSON bytes), oldest first."""

    events: list[tuple[str | None, int | None, bytes]]
    has_more: bool
    last_timestamp: int | None
    attempts: int
    latency_ms: float


class EventSearch:
    """Pages of the events search through `client` (same session, key header, limiter and retry rules)."""

    def __init__(self, client: FingerprintClient, page_size: int | None = None) -> None:
        version = client.settings.api_version
        if version not in SEARCH_DIALECTS:
            raise SearchUnavailable(f"no events search for Server API v{version}")
        self.client = client
        self.dialect = SEARCH_DIALECTS[version]
        self.page_size = min(page_size or self.dialect.max_limit, self.dialect.max_limit)
        self.url = client.settings.base_url + self.dialect.path

    def page(self, after_ms: int, before_ms: int, limit: int | None = None) -> SearchPage:
        """The oldest `limit` (default `page_size`) events with after_ms < timestamp < before_ms, retried."""
        params = {"limit": limit or self.page_size, "start": after_ms, "end": before_ms, "reverse": "true"}
        c = self.client
        tries: Counter[str] = Counter()
        latency_ms = 0.0
        while True:
            c._limiter.acquire()
            attempt, page = self._attempt(params)
            latency_ms += attempt.elapsed_ms
            tries[attempt.kind] += 1
            if page is not None:
                return SearchPage(page.events, page.has_more, page.last_timestamp, tries.total(), latency_ms)
            if attempt.kind == "fatal":
                raise FatalApiError.forbidden(attempt.error_code, attempt.error_message)
            if attempt.kind == "final":
                raise SearchUnavailable(f"the events search answered HTTP {attempt.status}: {attempt.error_message}")
            delay = c._retry_delay(attempt, tries)  # type: ignore[arg-type]
            if delay is None:
                raise SearchFailed(
                    f"a search page failed {tries.total()} times ({attempt.error_code}: {attempt.error_message}); "
                    "re-run to resume from the saved cursor"
                )
            c._log.debug("search page after %d: %s; retrying in %.2f s", after_ms, attempt.error_message, delay)
            time.sleep(delay)

    def _attempt(self, params: dict[str, Any]) -> tuple[_Attempt, SearchPage | None]:
        c = self.client
        started = time.perf_counter()
        try:
            response = c._session.get(
                self.url, params=params, timeout=c.settings.timeout_s, allow_redirects=False, stream=True
            )
            body = response.content
        except _TRANSPORT_ERRORS as exc:
            code, message = c._transport_failure(exc)
            return _Attempt("transient", "failed", None, code, message, _ms(started)), None
        status = response.status_code
        if status == 200:
            return self._judge_page(body, _ms(started))
        code, message = c._api_error(body)
        if status == 403:
            return _Attempt("fatal", "failed", status, code, message, _ms(started)), None
        if status == 429:
            retry_after = _retry_after_s(response.headers.get("Retry-After"))
            attempt = _Attempt("throttled", "failed", status, "throttled", message, _ms(started), None, retry_after)
            return attempt, None
        kind = "transient" if status in _RETRYABLE_STATUS or status >= 500 else "final"
        return _Attempt(kind, "failed", status, code or f"http_{status}", message, _ms(started)), None

    def _judge_page(self, body: bytes, elapsed_ms: float) -> tuple[_Attempt, SearchPage | None]:
        def broken(message: str) -> tuple[_Attempt, None]:
            return _Attempt("transient", "failed", 200, "bad_payload", message, elapsed_ms), None

        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return broken(f"search body is not valid JSON ({len(body)} bytes)")
        items = parsed.get("events") if isinstance(parsed, dict) else None
        if not isinstance(items, list):
            return broken("search response without an events list")
        events: list[tuple[str | None, int | None, bytes]] = []
        for item in items:
            identity = self.dialect.identify(item)
            if identity is None:
                return broken("search item that is not an event")
            problem = self.client._dialect.event_problem(item)
            if problem is not None:  # throttled inside the page: the whole page is retried, never stored half
                kind, code, message = problem
                return _Attempt(kind, "failed", 200, code, f"search page: {message}", elapsed_ms), None
            events.append((*identity, orjson.dumps(item)))
        key = parsed.get(self.dialect.key_field)
        last = next((ts for _, ts, _ in reversed(events) if ts is not None), None)
        if self.dialect.version == 3 and isinstance(key, str) and key.isdigit():
            last = int(key)  # v3's key is the last event's timestamp, even when that event has no identification
        ok = _Attempt("final", "ok", 200, None, None, elapsed_ms)
        return ok, SearchPage(events, key is not None and bool(events), last, 1, elapsed_ms)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
