"""Recorded event bodies replayed verbatim, so real API payloads can be pushed through a client unchanged.

A recorded folder holds `*.json` files. A file named `<request_id>.json` answers that ID. Any other JSON file
that contains `products.identification.data.requestId` answers that ID (this is how the official example files
replay). Files are indexed in name order and the first claim on an ID wins, named files before indexed ones.
Bodies are read once at start-up and served byte for byte, including deliberately broken ones.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from simulator.ids import REQUEST_ID_RE


def index_recorded(folder: Path) -> dict[str, bytes]:
    """Request ID -> raw body for the `*.json` files directly inside `folder`."""
    files = sorted(p for p in Path(folder).glob("*.json") if p.is_file())
    named: dict[str, bytes] = {p.stem: p.read_bytes() for p in files if REQUEST_ID_RE.match(p.stem)}
    indexed: dict[str, bytes] = {}
    for path in files:
        if path.stem in named:
            continue
        body = path.read_bytes()
        request_id = _embedded_request_id(body)
        if request_id is not None and request_id not in indexed:
            indexed[request_id] = body
    return {**indexed, **named}


def _embedded_request_id(body: bytes) -> str | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # not an event body; such files can only be served under their own name
    for key in ("products", "identification", "data", "requestId"):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc if isinstance(doc, str) and doc else None
