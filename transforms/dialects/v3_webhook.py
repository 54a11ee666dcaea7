"""Server API v3 (legacy) webhooks: the flat `Webhook` payload, and its conversion to the v3 event shape.

A v3 webhook is not an API response (API.md 11.2): identification fields sit at the top level, each Smart Signal
is `<product>: {<data fields>}` without the `data`/`error` wrapper, botd's verdict is `bot` (+ `userAgent`), and
it carries what `GET /events` never does: `clientReferrer` and `supplementaryIds`. Instead of a second catalog,
`to_event` moves every key to where the v3 event keeps it (`WEBHOOK_PATHS`, one line per key), so a webhook
flattens through the same walker into the same columns as a fetched event. The webhook-only fields land under a
`webhook` object of the converted event, where the catalog declares the v3 paths of the columns v4 also fills
(`client_referrer`, `high_recall_*`). A key this table does not know stays at the root, so the flattener counts
it in `unknown_fields` like any new API field. The raw body stays in bronze as it came.
"""

from __future__ import annotations

from typing import Any

from transforms.catalog import PRODUCTS_V3, V3_WEBHOOK_PREFIX

ID = "products.identification.data."
BOTD = "products.botd.data."

_IDENTIFICATION_KEYS = (
    "requestId",
    "url",
    "ip",
    "environmentId",
    "tag",
    "time",
    "timestamp",
    "ipLocation",
    "linkedId",
    "visitorId",
    "visitorFound",
    "confidence",
    "firstSeenAt",
    "lastSeenAt",
    "browserDetails",
    "components",
    "replayed",
    "suspect",
    "sdk",
)
# Smart Signals whose webhook object is the v3 product's `data` object as is.
_PRODUCT_KEYS = tuple(key for key in PRODUCTS_V3 if key not in {"identification", "botd", "incognito"})

_HIGH_RECALL = "supplementaryIds.highRecall"
_HIGH_RECALL_KEYS = ("visitorId", "visitorFound", "confidence", "firstSeenAt.subscription", "lastSeenAt.subscription")

# Webhook key (dotted for nested ones) -> where the v3 event keeps its value; () = known, deliberately not loaded.
WEBHOOK_PATHS: dict[str, tuple[str, ...]] = {
    **{key: (ID + key,) for key in _IDENTIFICATION_KEYS},
    **{key: (f"products.{key}.data",) for key in _PRODUCT_KEYS},
    # the v3 event reports incognito twice (identification and the `incognito` product); the webhook once
    "incognito": (ID + "incognito", "products.incognito.data.result"),
    "bot": (BOTD + "bot",),
    "userAgent": (BOTD + "userAgent",),
    "clientReferrer": (V3_WEBHOOK_PREFIX + "clientReferrer",),
    **{f"{_HIGH_RECALL}.{key}": (f"{V3_WEBHOOK_PREFIX}{_HIGH_RECALL}.{key}",) for key in _HIGH_RECALL_KEYS},
    # the warehouse has no global High Recall times (v4's High Recall ID has none either)
    f"{_HIGH_RECALL}.firstSeenAt.global": (),
    f"{_HIGH_RECALL}.lastSeenAt.global": (),
    # the standard ID repeats the event's own identification (visitorId, confidence, firstSeenAt, lastSeenAt)
    "supplementaryIds.standard": (),
}
# Webhook objects whose members are looked up one by one (`supplementaryIds`, `supplementaryIds.highRecall`, ...).
_NESTED = frozenset(key.rsplit(".", n)[0] for key in WEBHOOK_PATHS for n in range(1, key.count(".") + 1))


def is_webhook(body: Any) -> bool:
    """A parsed v3 body in the webhook shape: a request ID at the top level and no `products`."""
    return type(body) is dict and "products" not in body and type(body.get("requestId")) is str


def shape_problem(body: Any) -> str | None:
    """Why a parsed body is not a v3 webhook, or None when it is one."""
    return None if is_webhook(body) else "body is not a v3 webhook object with `requestId`"


def identity(body: dict) -> tuple[str, int | None]:
    """(request ID, event timestamp in epoch ms or None) of a v3 webhook (`is_webhook` holds)."""
    timestamp = body.get("timestamp")
    return body["requestId"], timestamp if type(timestamp) is int else None


def to_event(webhook: dict) -> dict[str, Any]:
    """The v3 event (`{"products": ...}`) holding the webhook's values where `GET /events` keeps them."""
    event: dict[str, Any] = {"products": {}}
    _place(event, webhook, "")
    return event


def _place(event: dict, members: dict, prefix: str) -> None:
    for key, value in members.items():
        name = prefix + key
        if name in _NESTED and type(value) is dict:
            _place(event, value, name + ".")
            continue
        for path in WEBHOOK_PATHS.get(name, (name,)):
            _set(event, path, value)


def _set(event: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = event
    for part in parents:
        child = node.get(part)
        if type(child) is not dict:
            child = node[part] = {}
        node = child
    node[leaf] = value
