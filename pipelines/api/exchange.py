"""One HTTP exchange with the Server API, judged: what came back, and whether trying again can help.

The judgement is the same for every endpoint (by ID and search): 403 stops the run, 404 is `not_found`, 429 and
5xx/408 and transport failures are retried, any other 4xx is final. Only the check of a 200 body differs, and the
caller passes it in (`BodyCheck`). Error texts are built from exception types and API codes, never from
requests' messages, which embed URLs.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import orjson
import requests
import urllib3

from pipelines.api.results import Outcome

Kind = Literal["final", "transient", "throttled", "not_found", "fatal"]
BodyProblem = tuple[Literal["transient", "throttled"], str, str]  # (kind, error code, message)
BodyCheck = Callable[[Any], BodyProblem | None]
"""Judges a parsed 200 body: None when it is what the endpoint promises, else why not."""

RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504})
# requests wraps most transport failures, but http.client and urllib3 errors can still surface raw
TRANSPORT_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)  # OSError: requests' too


@dataclass(frozen=True)
class Attempt:
    """One HTTP exchange, judged. `parsed` and `body` are set for an acceptable 200 only."""

    kind: Kind
    status: int | None
    error_code: str | None
    error_message: str | None
    elapsed_ms: float
    body: bytes | None = None
    parsed: Any = None
    retry_after_s: float | None = None

    @property
    def outcome(self) -> Outcome:
        return (
            "ok"
            if self.kind == "final" and self.status == 200
            else "not_found"
            if self.kind == "not_found"
            else "failed"
        )


def judge(status: int, headers: Any, body: bytes, elapsed_ms: float, check: BodyCheck) -> Attempt:
    """The verdict on an answer that arrived whole."""
    if status == 200:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Attempt("transient", 200, "bad_payload", f"body is not valid JSON ({len(body)} bytes)", elapsed_ms)
        problem = check(parsed)
        if problem is None:
            return Attempt("final", 200, None, None, elapsed_ms, body=body, parsed=parsed)
        kind, code, message = problem
        return Attempt(kind, 200, code, message, elapsed_ms)
    code, message = api_error(body)
    if status == 403:
        return Attempt("fatal", status, code, message, elapsed_ms)
    if status == 404:
        return Attempt("not_found", status, code, message, elapsed_ms)
    if status == 429:
        retry_after = retry_after_s(headers.get("Retry-After"))
        return Attempt(
            "throttled", status, "throttled", message or "429 Too Many Requests", elapsed_ms, None, None, retry_after
        )
    kind: Kind = "transient" if status in RETRYABLE_STATUS or status >= 500 else "final"
    return Attempt(kind, status, code or f"http_{status}", message or f"HTTP {status}", elapsed_ms)


def transport_failure(exc: BaseException, timeout_s: float, elapsed_ms: float, status: int | None = None) -> Attempt:
    """A failure to get an answer (or its whole body), named from exception types only."""
    causes = _causes(exc)
    if any(_is_timeout(c) for c in causes):
        code, message = "timeout", f"no response within {timeout_s:g} s"
    else:
        code, message = "connection_error", "connection failed: " + " / ".join(type(c).__name__ for c in causes)
    if status is not None and code == "connection_error":  # the status line came, the body did not
        code, message = "bad_payload", f"body cut short ({message})"
    return Attempt("transient", status, code, message, elapsed_ms)


def api_error(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) from either v3 error shape or the v4 one; (None, None) for an empty or non-JSON body."""
    try:
        error = orjson.loads(body).get("error") if body else None
    except (orjson.JSONDecodeError, AttributeError):
        return None, None
    code, message = (error.get("code"), error.get("message")) if isinstance(error, dict) else (None, error)
    return (str(code)[:100] if code is not None else None, str(message)[:300] if message is not None else None)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from `now` (default: the clock): integer seconds or an HTTP date; None when absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (args, `reason`, `__cause__`), outermost first, a few levels deep."""
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(found) < 6:
        current = todo.pop(0)
        if any(current is f for f in found):
            continue
        found.append(current)
        inner = [*current.args, getattr(current, "reason", None), current.__cause__]
        todo.extend(i for i in inner if isinstance(i, BaseException))
    return found


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError for old callers' sake
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError)
