"""The record every API call yields: what was asked, what came back, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["ok", "not_found", "failed"]
# How an event arrived: fetched (`by_id`, `search`) or pushed to us at no API cost (`webhook`, `sealed`).
FetchMethod = Literal["by_id", "search", "webhook", "sealed"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One request ID's fetch outcome.

    `body` holds the raw response bytes for `ok` outcomes (the replay source of every silver table) and is
    None otherwise. `error_code`/`error_message` carry the API's error code (e.g. `RequestNotFound`) or our
    own (`timeout`, `connection_error`, `bad_payload`, `throttled`) for the last attempt.
    """

    request_id: str
    outcome: Outcome
    http_status: int | None
    error_code: str | None
    error_message: str | None
    attempts: int
    latency_ms: float
    fetched_at: datetime
    api_version: int = 3
    method: FetchMethod = "by_id"
    body: bytes | None = field(default=None, repr=False)
