"""Server API v4 (flat, snake_case events) on the wire: the current version (API.md 3.4, 3.5, 12, 13)."""

from __future__ import annotations

from typing import Any

VERSION = 4
BASE_SUFFIX = "/v4"
EVENT_PATH = "/events/{id}"
SEARCH_PATH = "/events"
SEARCH_MAX_LIMIT = 100  # the schema's maximum
PAGINATION_KEY = "pagination_key"  # opaque; we page by timestamp anyway, like v3
AUTH_HEADER = "Authorization"
AUTH_PREFIX = "Bearer "
NOT_FOUND_CODE = "event_not_found"
# `PATCH /v4/events/{id}` changes `linked_id`, `tags` and `suspect` of events up to "one month" old (API.md 3.6):
# read as the longest month, so that no update is missed.
UPDATE_WINDOW_DAYS = 31
# v4 spells the v3 refusals in snake_case (API.md 4.1): one set of hints serves both.
ERROR_NAMES = {
    "secret_api_key_required": "TokenRequired",
    "secret_api_key_not_found": "TokenNotFound",
    "wrong_region": "WrongRegion",
    "subscription_not_active": "SubscriptionNotActive",
    "feature_not_enabled": "FeatureNotEnabled",
    "event_not_found": "RequestNotFound",
    "too_many_requests": "TooManyRequests",
}


def shape_problem(body: Any) -> str | None:
    # `event_id` is required; a `products` object means a v3 body recorded under the wrong version
    if type(body) is not dict or "products" in body or type(body.get("event_id")) is not str:
        return "body is not a v4 event object with `event_id`"
    return None


def throttle_problem(body: Any) -> str | None:
    return None  # v4 throttles with a real 429 only


def search_item_identity(item: Any) -> tuple[str | None, int | None] | None:
    if not isinstance(item, dict) or not isinstance(item.get("event_id"), str):
        return None
    timestamp = item.get("timestamp")
    return item["event_id"], timestamp if isinstance(timestamp, int) else None
