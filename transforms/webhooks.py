"""What the warehouse needs to know about a pushed webhook body before storing it: its event, version and day.

A v4 webhook is the v4 event itself (`event_id`, `timestamp`); a v3 webhook is the flat v3 `Webhook` payload
(`requestId`, `timestamp`; `transforms.dialects.v3_webhook`). Either is stored raw in bronze under the UTC day of
the event: its `timestamp`, else the epoch-ms prefix of its ID, else (a legacy ID and no timestamp) unknown, and
the receiver uses the day it arrived. Pure: bytes in, an identity or the reason the body is unusable out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from transforms.dialects import dialect, v3_webhook
from transforms.request_ids import utc_day

# Far outside any real event: an epoch-ms timestamp beyond this is garbage, not a day.
_MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True, slots=True)
class PushedEvent:
    """The identity of a webhook body: its request (event) ID, API version and event day (None: unknown)."""

    request_id: str
    api_version: int
    day: date | None


def identify(body: bytes) -> PushedEvent | str:
    """The event a webhook body reports, or why it is not a webhook event of API v3 or v4."""
    try:
        event: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "body is not JSON"
    if v3_webhook.is_webhook(event):
        request_id, timestamp = v3_webhook.identity(event)
        version = 3
    elif dialect(4).shape_problem(event) is None:
        request_id, timestamp = dialect(4).search_item_identity(event) or (event["event_id"], None)
        version = 4
    else:
        return "body is neither a v4 event (`event_id`) nor a v3 webhook (`requestId`)"
    if not request_id:
        return "the event ID is empty"
    return PushedEvent(request_id, version, _day(request_id, timestamp))


def _day(request_id: str, timestamp_ms: int | None) -> date | None:
    if timestamp_ms is not None and 0 <= timestamp_ms <= _MAX_TIMESTAMP_MS:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC).date()
    return utc_day(request_id)
