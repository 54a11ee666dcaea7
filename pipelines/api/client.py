"""The Server API client: fetches events by request ID, rate-limited, retried, one FetchResult per ID.

Every ID handed in yields exactly one result (`ok`, `not_found` or `failed`) as soon as it is final, so the
caller can persist progressively; only a refusal of the whole run (403) raises. Transient trouble (429,
throttling reported inside a 200, 5xx, timeouts, dropped connections, unparsable bodies) is retried with
exponential backoff and full jitter. The secret key travels in a header only and never reaches a URL, a
log line, an exception or a result.
"""

from __future__ import annotations

import http.client
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import islice
from queue import SimpleQueue
from typing import Literal
from urllib.parse import quote

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter

from pipelines.api.errors import FatalApiError
from pipelines.api.ratelimit import RateLimiter, limiter_for
from pipelines.api.results import FetchResult, Outcome
from pipelines.api.settings import ClientSettings, Secret

Progress = Callable[[int, int | None], None]
_Kind = Literal["final", "transient", "throttled", "young_404", "fatal"]

_USER_AGENT = "fp-events-warehouse"
_ID_EPOCH_MS = re.compile(r"^(\d{13})\.")
_DAY_MS = 86_400_000
# Throttling is the key's budget, not this request's fault, and the shared limiter guarantees progress, so
# throttled answers get a larger budget of their own than transport or server errors.
_THROTTLE_ATTEMPTS_FACTOR = 4
_RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504})
# requests wraps most transport failures, but http.client and urllib3 errors can still surface raw
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)  # OSError: requests' too


@dataclass(frozen=True)
class YoungEventRetry:
    """A just-created event can 404 until it has propagated: retry IDs younger than `window_s` a few times."""

    window_s: float = 60.0
    retries: int = 5
    min_delay_s: float = 1.0
    max_delay_s: float = 3.0


@dataclass(frozen=True)
class _Dialect:
    """Everything that differs between API versions for a fetch by ID."""

    version: int
    event_path: str  # appended to `ClientSettings.base_url`, which already ends in `/v4` for v4
    auth_header: str
    auth_prefix: str
    throttle_codes: frozenset[str]  # error codes that mean "throttled" inside a 200 (v3 only)
    envelope: tuple[str, type]  # the key (and its type) every event body of this version has
    not_found_code: str

    def event_url(self, base_url: str, request_id: str) -> str:
        return base_url + self.event_path.format(id=quote(request_id, safe=""))

    def headers(self, key: Secret) -> dict[str, str]:
        return {self.auth_header: self.auth_prefix + key.reveal(), "Accept": "application/json"}

    def event_problem(self, parsed: object) -> tuple[_Kind, str, str] | None:
        """Why a parsed 200 body is not a storable event, or None when it is one."""
        key, kind = self.envelope
        value = parsed.get(key) if isinstance(parsed, dict) else None
        if not isinstance(value, kind):
            return "transient", "bad_payload", f"200 response without `{key}`: not a v{self.version} event"
        if not self.throttle_codes:
            return None
        for name, product in value.items():
            error = product.get("error") if isinstance(product, dict) else None
            if isinstance(error, dict) and error.get("code") in self.throttle_codes:
                return "throttled", "throttled", f"throttled inside a 200 ({name}: {error.get('code')})"
        return None


_DIALECTS = {
    3: _Dialect(
        version=3,
        event_path="/events/{id}",
        auth_header="Auth-API-Key",
        auth_prefix="",
        throttle_codes=frozenset({"429 Too Many Requests", "TooManyRequests"}),
        envelope=("products", dict),
        not_found_code="RequestNotFound",
    ),
    4: _Dialect(
        version=4,
        event_path="/events/{id}",
        auth_header="Authorization",
        auth_prefix="Bearer ",
        throttle_codes=frozenset(),  # v4 throttles with a real 429 only
        envelope=("event_id", str),
        not_found_code="event_not_found",
    ),
}


@dataclass(frozen=True)
class _Attempt:
    """One HTTP exchange, judged."""

    kind: _Kind
    outcome: Outcome
    status: int | None
    error_code: str | None
    error_message: str | None
    elapsed_ms: float
    body: bytes | None = None
    retry_after_s: float | None = None


class _Cancelled(Exception):
    """The run stopped (fatal error elsewhere, or the caller closed the iterator)."""


class FingerprintClient:
    """Fetches events by request ID with `settings.concurrency` requests in flight at most."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        limiter: RateLimiter | None = None,
        young_event_retry: YoungEventRetry = YoungEventRetry(),
    ) -> None:
        if settings.api_version not in _DIALECTS:
            raise ValueError(f"FINGERPRINT_API_VERSION={settings.api_version} is not supported: set it to 3 or 4")
        if not settings.api_key:
            raise ValueError("FINGERPRINT_SECRET_API_KEY is empty: export your Server API secret key")
        if re.search(r"[\s\x00-\x1f\x7f]", settings.api_key.reveal()):
            raise ValueError("FINGERPRINT_SECRET_API_KEY contains whitespace or control characters: re-copy it")
        if settings.concurrency < 1 or settings.max_attempts < 1:
            raise ValueError("FPWH_FETCH_CONCURRENCY and FPWH_FETCH_MAX_ATTEMPTS must be at least 1")
        self._base_url = settings.base_url
        if not self._base_url.startswith(("http://", "https://")):
            raise ValueError("FINGERPRINT_API_URL must start with https:// (or http:// for a local simulator)")
        self.settings = settings
        self._dialect = _DIALECTS[settings.api_version]
        self._key = settings.api_key.reveal()
        self._log = logger or logging.getLogger("pipelines.api")
        self._owns_limiter = limiter is None
        self._limiter = limiter if limiter is not None else limiter_for(settings)
        self._young = young_event_retry
        self._session = self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.settings.concurrency, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Proxy and CA-bundle variables are honoured as requests would, but resolved once here: requests'
        # per-call environment scan costs more CPU than the rest of a request.
        environment = session.merge_environment_settings(self._base_url, {}, None, None, None)
        session.proxies, session.verify = environment["proxies"], environment["verify"]
        session.trust_env = False
        session.headers.update({"User-Agent": _USER_AGENT, **self._dialect.headers(self.settings.api_key)})
        return session

    def __enter__(self) -> FingerprintClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        if self._owns_limiter:
            self._limiter.close()

    def fetch_event(self, request_id: str) -> FetchResult:
        """Fetch one event in the calling thread (retries included)."""
        return self._fetch_one(request_id, threading.Event())

    def fetch_events(self, request_ids: Iterable[str], *, progress: Progress | None = None) -> Iterator[FetchResult]:
        """Yield one FetchResult per ID, in completion order; raise FatalApiError if the API refuses the run.

        IDs are pulled from `request_ids` lazily, a bounded window ahead of the workers, so a huge iterable
        costs no memory and a killed run loses only what is in flight.
        """
        if isinstance(request_ids, str):
            raise TypeError("fetch_events takes an iterable of request IDs, not one ID: wrap it in a list")
        total = len(request_ids) if isinstance(request_ids, Sized) else None
        ids = iter(request_ids)
        window = 2 * self.settings.concurrency
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="fp-fetch")
        finished: SimpleQueue[Future[FetchResult]] = SimpleQueue()  # O(1) per completion, unlike wait()
        in_flight = 0
        outcomes: Counter[str] = Counter()
        try:
            while True:
                for request_id in islice(ids, 0 if stop.is_set() else window - in_flight):
                    pool.submit(self._fetch_one, request_id, stop).add_done_callback(finished.put)
                    in_flight += 1
                if not in_flight:
                    break
                future = finished.get()
                in_flight -= 1
                error = future.exception()
                if isinstance(error, _Cancelled):
                    continue
                if error is not None:
                    stop.set()
                    raise error
                result = future.result()
                outcomes[result.outcome] += 1
                if progress is not None:
                    progress(outcomes.total(), total)
                yield result
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self._log.info("fetched %d request IDs: %s", outcomes.total(), dict(outcomes) or "none")

    def _fetch_one(self, request_id: str, stop: threading.Event) -> FetchResult:
        url = self._dialect.event_url(self._base_url, request_id)
        tries: Counter[_Kind] = Counter()
        latency_ms = 0.0
        while True:
            if not self._limiter.acquire(stop):
                raise _Cancelled
            attempt = self._attempt(request_id, url)
            latency_ms += attempt.elapsed_ms
            tries[attempt.kind] += 1
            if attempt.kind == "fatal":
                stop.set()  # the other workers stop before their next attempt
                self._log.error("fetch stopped: %s", attempt.error_message)
                raise FatalApiError.forbidden(attempt.error_code, attempt.error_message)
            delay = self._retry_delay(attempt, tries)
            if delay is None:
                return self._result(request_id, attempt, tries.total(), latency_ms)
            self._log.debug("%s: %s; retrying in %.2f s", request_id, attempt.error_message, delay)
            if stop.wait(delay):
                raise _Cancelled

    def _retry_delay(self, attempt: _Attempt, tries: Counter[_Kind]) -> float | None:
        """Seconds to wait before the next attempt, or None to give up with this attempt as the result."""
        s = self.settings
        if attempt.kind == "throttled":
            if tries["throttled"] >= s.max_attempts * _THROTTLE_ATTEMPTS_FACTOR:
                return None
            pause = attempt.retry_after_s or min(s.backoff_cap_s, s.backoff_base_s * 2 ** (tries["throttled"] - 1))
            self._limiter.penalize(pause)  # every worker of this key waits, in every process: acquire() does
            return 0.0
        if attempt.kind == "young_404":
            if tries["young_404"] > self._young.retries:
                return None
            return max(1e-3, random.uniform(self._young.min_delay_s, self._young.max_delay_s))
        if attempt.kind == "transient" and tries["transient"] < s.max_attempts:
            ceiling = min(s.backoff_cap_s, s.backoff_base_s * 2 ** (tries["transient"] - 1))
            return random.uniform(0.0, ceiling)  # exponential backoff with full jitter
        return None

    def _result(self, request_id: str, attempt: _Attempt, attempts: int, latency_ms: float) -> FetchResult:
        outcome = attempt.outcome
        if outcome == "failed":
            self._log.warning(
                "%s failed after %d attempts: %s (%s)",
                request_id,
                attempts,
                attempt.error_code,
                attempt.error_message,
            )
        return FetchResult(
            request_id=request_id,
            outcome=outcome,
            http_status=attempt.status,
            error_code=attempt.error_code,
            error_message=attempt.error_message,
            attempts=attempts,
            latency_ms=latency_ms,
            fetched_at=datetime.now(UTC),
            api_version=self._dialect.version,
            method="by_id",
            body=attempt.body if outcome == "ok" else None,
        )

    def _attempt(self, request_id: str, url: str) -> _Attempt:
        started = time.perf_counter()
        try:
            response = self._session.get(
                url,
                timeout=self.settings.timeout_s,
                allow_redirects=False,  # custom auth headers would follow a redirect to any host
                stream=True,  # read the body separately, so a body cut short still has its status
            )
        except _TRANSPORT_ERRORS as exc:
            code, message = self._transport_failure(exc)
            return _Attempt("transient", "failed", None, code, message, _ms_since(started))
        try:
            body = response.content
        except _TRANSPORT_ERRORS as exc:
            response.close()
            code, message = self._transport_failure(exc)
            if code == "connection_error":
                code, message = "bad_payload", f"body cut short ({message})"
            return _Attempt("transient", "failed", response.status_code, code, message, _ms_since(started))
        return self._judge(request_id, response.status_code, response.headers, body, _ms_since(started))

    def _transport_failure(self, exc: BaseException) -> tuple[str, str]:
        """An error code and a message built from exception types only: requests' texts embed URLs."""
        causes = _causes(exc)
        if any(_is_timeout(c) for c in causes):
            return "timeout", f"no response within {self.settings.timeout_s:g} s"
        return "connection_error", "connection failed: " + " / ".join(type(c).__name__ for c in causes)

    def _judge(
        self, request_id: str, status: int, headers: Mapping[str, str], body: bytes, elapsed_ms: float
    ) -> _Attempt:
        if status == 200:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                return _Attempt(
                    "transient",
                    "failed",
                    status,
                    "bad_payload",
                    f"body is not valid JSON ({len(body)} bytes)",
                    elapsed_ms,
                )
            problem = self._dialect.event_problem(parsed)
            if problem is None:
                return _Attempt("final", "ok", status, None, None, elapsed_ms, body=body)
            kind, code, message = problem
            return _Attempt(kind, "failed", status, code, message, elapsed_ms)
        code, message = self._api_error(body)
        if status == 403:
            return _Attempt("fatal", "failed", status, code, message, elapsed_ms)
        if status == 404:
            return self._not_found(request_id, code or self._dialect.not_found_code, message, elapsed_ms)
        if status == 429:
            retry_after = _retry_after_s(headers.get("Retry-After"))
            return _Attempt(
                "throttled",
                "failed",
                status,
                "throttled",
                message or "429 Too Many Requests",
                elapsed_ms,
                retry_after_s=retry_after,
            )
        kind: _Kind = "transient" if status in _RETRYABLE_STATUS or status >= 500 else "final"
        return _Attempt(kind, "failed", status, code or f"http_{status}", message or f"HTTP {status}", elapsed_ms)

    def _not_found(self, request_id: str, code: str, message: str | None, elapsed_ms: float) -> _Attempt:
        age_ms = _age_ms(request_id)
        if age_ms is not None and -self._young.window_s * 1000 < age_ms < self._young.window_s * 1000:
            return _Attempt("young_404", "not_found", 404, code, message, elapsed_ms)
        retention = self.settings.retention_days
        if age_ms is not None and age_ms > retention * _DAY_MS:
            message = (
                f"event is {age_ms // _DAY_MS} days old; Fingerprint keeps events for {retention} days "
                "(FINGERPRINT_RETENTION_DAYS), so it can no longer be fetched"
            )
        return _Attempt("final", "not_found", 404, code, message, elapsed_ms)

    def _api_error(self, body: bytes) -> tuple[str | None, str | None]:
        """(code, message) from either v3 error shape or the v4 one; (None, None) for an empty or non-JSON body."""
        try:
            error = orjson.loads(body).get("error") if body else None
        except (orjson.JSONDecodeError, AttributeError):
            return None, None
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
        else:
            code, message = None, error
        return (
            self._redact(str(code)[:100]) if code is not None else None,
            self._redact(str(message)[:300]) if message is not None else None,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


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


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _age_ms(request_id: str) -> int | None:
    """How old the event is by its ID's epoch-ms prefix (a partition hint, close to the event time)."""
    match = _ID_EPOCH_MS.match(request_id)
    return int(time.time() * 1000) - int(match.group(1)) if match else None


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: integer seconds or an HTTP date; None when absent or unreadable."""
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
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
