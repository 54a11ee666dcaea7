"""Server API v3 (`products` format) on the wire: retired by Fingerprint on 2027-01-07 (API.md 1)."""

from __future__ import annotations

from typing import Any

VERSION = 3
BASE_SUFFIX = ""
EVENT_PATH = "/events/{id}"
SEARCH_PATH = "/events/search"
# The schema sets no maximum; the documentation pages by 200 (API.md 3.2).
SEARCH_MAX_LIMIT = 200
# The key is the last event's epoch-ms timestamp: ties at a page edge are the client's problem (API.md 17.4).
PAGINATION_KEY = "paginationKey"
AUTH_HEADER = "Auth-API-Key"  # never the `api_key` query form: it puts the secret into URLs
AUTH_PREFIX = ""
NOT_FOUND_CODE = "RequestNotFound"
# `PUT /events/{id}` changes `linkedId`, `tag` and `suspect` of events up to 10 days old (API.md 3.6, 14.3).
UPDATE_WINDOW_DAYS = 10
ERROR_NAMES: dict[str, str] = {}  # v3 codes are the canonical spelling
# Since 2023 a throttled `GET /events` is a 200 whose products report 429 (API.md 4.2).
THROTTLE_CODES = frozenset({"429 Too Many Requests", "TooManyRequests"})


def shape_problem(body: Any) -> str | None:
    if type(body) is not dict or type(body.get("products")) is not dict:
        return "body is not a v3 event object with `products`"
    return None


def throttle_problem(body: Any) -> str | None:
    products = body.get("products") if isinstance(body, dict) else None
    for name, product in (products or {}).items():
        error = product.get("error") if isinstance(product, dict) else None
        if isinstance(error, dict) and error.get("code") in THROTTLE_CODES:
            return f"throttled inside a 200 ({name}: {error.get('code')})"
    return None


def search_item_identity(item: Any) -> tuple[str | None, int | None] | None:
    """identification may have failed; botd repeats the request ID, but not the timestamp."""
    products = item.get("products") if isinstance(item, dict) else None
    if not isinstance(products, dict):
        return None
    for product in ("identification", "botd"):
        data = (products.get(product) or {}).get("data")
        if isinstance(data, dict) and isinstance(data.get("requestId"), str):
            timestamp = data.get("timestamp")
            return data["requestId"], timestamp if isinstance(timestamp, int) else None
    return None, None
