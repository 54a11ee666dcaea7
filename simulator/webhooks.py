"""Fingerprint webhooks as the simulated workspace would push them: bodies, signatures, and a sender.

- v4 webhooks carry the same event JSON as `GET /v4/events/{id}` (`examples/v4/webhook/webhook_event.json`).
- v3 (legacy) webhooks carry the flat `Webhook` payload of the v3 schema (API.md 11.2, `examples/v3/webhook*.json`):
  the identification fields at the top level, each Smart Signal's data object without its `data` wrapper, botd's
  verdict as `bot` + `userAgent`, plus `clientReferrer` and `supplementaryIds` (standard and High Recall), which
  `GET /events` never returns. A failed signal is left out (a webhook has no error channel); an event whose
  identification failed has no webhook (its request ID, URL and IP are required fields).
- The signature header is `FPJS-Event-Signature: v1=<hex HMAC-SHA256 of the raw body>`; several secrets (a
  rotation) give several comma-separated `v1=` entries.

This is the simulator's own rendering from its facts, written from the schema and the examples, not shared with
the warehouse's reader: tests that pass a simulated webhook through the warehouse compare two implementations.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

import orjson
import requests

from simulator.events import iso_ms
from simulator.population import Population

SIGNATURE_HEADER = "FPJS-Event-Signature"
# Products whose v3 `data` object is not carried under its own name in the v3 webhook.
_FOLDED = ("identification", "botd", "incognito")


def sign(body: bytes, secrets: Sequence[str]) -> str:
    """The `FPJS-Event-Signature` value of `body`: one `v1=<hex>` per secret, comma-separated."""
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def webhook_v4(population: Population, request_id: str) -> dict[str, Any]:
    """The v4 webhook body of an event: the event itself."""
    return population.event_v4(request_id)


def webhook_v3(population: Population, request_id: str) -> dict[str, Any] | None:
    """The v3 webhook body of an event, or None when its identification failed (no webhook is sent)."""
    products = population.event_v3(request_id)["products"]
    identification = (products.get("identification") or {}).get("data")
    if identification is None:
        return None
    body: dict[str, Any] = dict(identification)
    botd = (products.get("botd") or {}).get("data") or {}
    if "bot" in botd:
        body.update(bot=botd["bot"], userAgent=botd.get("userAgent"))
    for name, product in products.items():
        if name not in _FOLDED and "data" in product:
            body[name] = product["data"]
    v4 = population.event_v4(request_id)
    if "client_referrer" in v4:
        body["clientReferrer"] = v4["client_referrer"]
    body["supplementaryIds"] = {
        "standard": {k: identification[k] for k in ("visitorId", "visitorFound", "confidence", "firstSeenAt")}
        | {"lastSeenAt": identification["lastSeenAt"]},
        "highRecall": _high_recall(v4["supplementary_id_high_recall"]),
    }
    return body


def _high_recall(v4: dict[str, Any]) -> dict[str, Any]:
    first, last = iso_ms(v4["first_seen_at"]), iso_ms(v4["last_seen_at"])
    return {
        "visitorId": v4["visitor_id"],
        "visitorFound": v4["visitor_found"],
        "confidence": {"score": v4["confidence"]["score"], "revision": v4["confidence"]["version"]},
        "firstSeenAt": {"global": first, "subscription": first},
        "lastSeenAt": {"global": last, "subscription": last},
    }


def webhook_body(population: Population, request_id: str, version: int) -> bytes | None:
    """The raw webhook body of an event in API `version` (3 or 4), or None when no webhook is sent."""
    body = webhook_v3(population, request_id) if version == 3 else webhook_v4(population, request_id)
    return None if body is None else orjson.dumps(body)


def pushed_ids(population: Population, day: date, share: float, now_ms: int | None = None) -> list[str]:
    """The request IDs of `day` that a webhook delivers: a deterministic `share` of the day's events."""
    chosen = []
    for ts, rid in population.day_events(day):
        if now_ms is not None and ts > now_ms:
            continue
        if population.keyed.rng(f"webhook:{rid}").random() < share:
            chosen.append(rid)
    return chosen


def day_bodies(population: Population, request_ids: Iterable[str], version: int) -> Iterator[tuple[str, bytes]]:
    """(request ID, raw body) of each event that has a webhook."""
    for rid in request_ids:
        body = webhook_body(population, rid, version)
        if body is not None:
            yield rid, body


def post(session: requests.Session, url: str, body: bytes, secrets: Sequence[str], timeout_s: float = 10.0) -> int:
    """POST one signed webhook as Fingerprint does; returns the HTTP status (the caller decides on retries)."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secrets)}
    return session.post(url, data=body, headers=headers, timeout=timeout_s).status_code


def send_day(
    population: Population, url: str, day: date, version: int, secrets: Sequence[str], share: float = 1.0
) -> dict[str, int]:
    """POST the webhooks of `share` of `day`'s events to `url`; returns the answers counted by HTTP status."""
    statuses: dict[str, int] = {}
    with requests.Session() as session:
        now_ms = int(time.time() * 1000)  # events still in the future have not happened: no webhook yet
        for _, body in day_bodies(population, pushed_ids(population, day, share, now_ms), version):
            status = str(post(session, url, body, secrets))
            statuses[status] = statuses.get(status, 0) + 1
    return statuses
