"""Events search over the simulated population: v3 `GET /events/search` and v4 `GET /v4/events`.

A search reads the same deterministic population as the event endpoints (`Population.day_events`), so a
day's search results and its by-ID results are the same events, byte for byte.

Parameters, as the schemas define them (API.md 3.2, 3.5):
- v3: `limit` required, an integer >= 1. The schema sets no maximum; the documentation's prose pages by 200,
  so the simulator serves at most `V3_MAX_LIMIT` = 200 events per page and silently caps a larger `limit`
  (a schema-valid request must not be refused, and a client must stop on the absence of `paginationKey`,
  never on a short page). `start`/`end` are epoch ms, both exclusive ("greater than" / "smaller than").
  `reverse=true` sorts oldest first (default newest first). `paginationKey` is the last returned event's
  `timestamp` (ms, as a string) and is present only when more events match.
- v3 ties: the next page holds the events strictly beyond the key (`< key` newest first, `> key` oldest
  first), so events that share the key's millisecond but did not fit on the page are skipped. That is the
  hazardous reading of a millisecond key (API.md 17.4) and it is served on purpose: the client must not lose
  events even against it.
- v4: `limit` 1-100 (default 10), `start`/`end` as RFC 3339 or epoch ms, `reverse`, an opaque
  `pagination_key` (it encodes the last event's timestamp and ID, so v4 pages are exact).
- Default window: the last 7 days up to now. Events later than the simulator clock or outside retention do
  not match, as they 404 by ID; nor do events deleted upstream (`hidden`).
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from simulator.population import Population, day_start_ms, utc_day

V3_MAX_LIMIT = 200
V4_MAX_LIMIT = 100
V4_DEFAULT_LIMIT = 10
DEFAULT_WINDOW_MS = 7 * 86_400_000
_TRUE, _FALSE = ("true", "1"), ("false", "0")
_INT32_MAX = 2**31 - 1  # `limit` is an int32


class SearchParamError(ValueError):
    """A parameter the API answers 400 `RequestCannotBeParsed` for; the message is the API's."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    after_ms: int  # exclusive lower bound on `timestamp`
    before_ms: int  # exclusive upper bound
    oldest_first: bool
    limit: int
    cursor: tuple[int, str] | None  # (timestamp, request ID) of the last event of the previous page


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _bool(raw: str | None) -> bool:
    if raw is None or raw.lower() in _FALSE:
        return False
    if raw.lower() in _TRUE:
        return True
    raise SearchParamError("invalid reverse param")


def _int(raw: str, message: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SearchParamError(message) from None


def _time_v4(raw: str, message: str) -> int:
    """RFC 3339 or epoch ms."""
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SearchParamError(message) from None
    if parsed.tzinfo is None:
        raise SearchParamError(message)
    return int(parsed.timestamp() * 1000)


def parse_v3(params: Mapping[str, list[str]], now_ms: int) -> SearchQuery:
    raw_limit = _one(params, "limit")
    if raw_limit is None or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= _INT32_MAX:
        raise SearchParamError("invalid limit")
    start, end = _one(params, "start"), _one(params, "end")
    after = _int(start, "invalid start time") if start is not None else now_ms - DEFAULT_WINDOW_MS
    before = _int(end, "invalid end time") if end is not None else now_ms
    oldest_first = _bool(_one(params, "reverse"))
    key = _one(params, "pagination_key")
    cursor = None
    if key is not None:
        if not key.isdigit():
            raise SearchParamError("invalid pagination key")
        # a millisecond key cannot say which events of that millisecond were served: all of them count as seen
        cursor = (int(key), "\U0010ffff" if oldest_first else "")
    return SearchQuery(after, before, oldest_first, min(int(raw_limit), V3_MAX_LIMIT), cursor)


def parse_v4(params: Mapping[str, list[str]], now_ms: int) -> SearchQuery:
    raw_limit = _one(params, "limit")
    if raw_limit is None:
        limit = V4_DEFAULT_LIMIT
    elif not raw_limit.isdigit() or not 1 <= int(raw_limit) <= V4_MAX_LIMIT:
        raise SearchParamError("invalid limit")
    else:
        limit = int(raw_limit)
    start, end = _one(params, "start"), _one(params, "end")
    after = _time_v4(start, "invalid start time") if start is not None else now_ms - DEFAULT_WINDOW_MS
    before = _time_v4(end, "invalid end time") if end is not None else now_ms
    oldest_first = _bool(_one(params, "reverse"))
    key = _one(params, "pagination_key")
    return SearchQuery(after, before, oldest_first, limit, _decode_v4_key(key) if key is not None else None)


def _encode_v4_key(ts: int, request_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts}:{request_id}".encode()).decode().rstrip("=")


def _decode_v4_key(key: str) -> tuple[int, str]:
    try:
        ts, request_id = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode().split(":", 1)
        return int(ts), request_id
    except ValueError:
        raise SearchParamError("invalid pagination key") from None


def select(
    population: Population, query: SearchQuery, now_ms: int, retention_days: int | None
) -> tuple[list[tuple[int, str]], bool]:
    """The page of (timestamp, request ID) the query selects, in its order, and whether more events match."""
    low, high = query.after_ms, query.before_ms  # exclusive bounds
    high = min(high, now_ms + 1)
    if retention_days is not None:
        low = max(low, now_ms - retention_days * 86_400_000 - 1)
    if low + 1 >= high:
        return [], False
    matching: list[tuple[int, str]] = []
    day, last_day = utc_day(low + 1), utc_day(high - 1)
    while day <= last_day:
        events = population.day_events(day)
        if day_start_ms(day) <= low:
            events = events[bisect.bisect_right(events, (low, "\U0010ffff")) :]
        if day_start_ms(day) + 86_400_000 >= high:
            events = events[: bisect.bisect_left(events, (high, ""))]
        matching.extend(events)
        day += timedelta(days=1)
    if query.cursor is not None:
        if query.oldest_first:
            matching = matching[bisect.bisect_right(matching, query.cursor) :]
        else:
            matching = matching[: bisect.bisect_left(matching, query.cursor)]
    if not query.oldest_first:
        matching.reverse()
    return matching[: query.limit], len(matching) > query.limit


def answer(
    version: int,
    params: Mapping[str, list[str]],
    population: Population,
    render: Callable[[str], dict[str, Any]],
    now_ms: int,
    retention_days: int | None,
    hidden: Callable[[str], bool] = lambda request_id: False,
) -> tuple[int, bytes]:
    """(status, body) of one search request of API `version` (3 or 4); `render` gives an event's body.

    Events for which `hidden` is true (deleted upstream) are left out of the page; pagination still moves past
    them, so a page may hold fewer events than `limit` while more match, as the real API's pages may.
    """
    try:
        query = (parse_v3 if version == 3 else parse_v4)(params, now_ms)
    except SearchParamError as exc:
        code = "RequestCannotBeParsed" if version == 3 else "request_cannot_be_parsed"
        return 400, orjson.dumps({"error": {"code": code, "message": str(exc)}})
    page, more = select(population, query, now_ms, retention_days)
    body: dict[str, Any] = {"events": [render(rid) for _, rid in page if not hidden(rid)]}
    if more and page:
        ts, rid = page[-1]
        if version == 3:
            body["paginationKey"] = str(ts)
        else:
            body["pagination_key"] = _encode_v4_key(ts, rid)
    return 200, orjson.dumps(body)
