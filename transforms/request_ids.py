"""Fingerprint request IDs: their pattern and the epoch-millisecond prefix that says roughly when they happened."""

from __future__ import annotations

import re

DAY_MS = 86_400_000
REQUEST_ID = re.compile(r"[0-9]{13}\.[A-Za-z0-9]{6}")
_PREFIX = re.compile(r"^(\d{13})\.")


def prefix_ms(request_id: str) -> int | None:
    """The 13-digit epoch-ms prefix of a documented-form ID (close to, not equal to, the event time), else None."""
    match = _PREFIX.match(request_id)
    return int(match.group(1)) if match else None
