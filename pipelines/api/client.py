"""The Server API client: every request goes through `call`, with the key's rate budget, retries and judgement.

`call` sends one GET (by-ID fetch or search page) and returns one final `Answer`, retrying what can be retried:
429 (honouring `Retry-After`, pausing every caller of the key), the v3 throttle hidden in a 200, 5xx, timeouts,
dropped connections and unparsable bodies, with exponential backoff and full jitter. Only a refusal of the whole
run (403) raises. `fetch_events` fetches many IDs with `settings.concurrency` requests in flight and yields one
`FetchResult` per ID as soon as it is final, so the caller can persist progressively. The secret key travels in a
header only and never reaches a URL, a log line, an exception or a result.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter

from pipelines.api.errors import FatalApiError
from pipelines.api.exchange import TRANSPORT_ERRORS, Attempt, BodyCheck, BodyProblem, judge, transport_failure
from pipelines.api.ratelimit import RateLimiter
from pipelines.api.results import FetchResult, Outcome
from pipelines.api.secret import Secret
from transforms.dialects import Dialect, dialect
from transforms.request_ids import DAY_MS, prefix_ms

if TYPE_CHECKING:
    from pipelines.settings import ApiSettings

_USER_AGENT = "fp-events-warehouse"
# Throttling is the key's budget, not this request's fault, and the shared limiter guarantees progress, so
# throttled answers get a larger budget of their own than transport or server errors.
_THROTTLE_ATTEMPTS_FACTOR = 4


@dataclass(frozen=True)
class YoungEventRetry:
    """A just-created event can 404 until it has propagated: retry IDs younger than `window_s` a few times."""

    window_s: float = 60.0
    retries: int = 5
    min_delay_s: float = 1.0
    max_delay_s: float = 3.0


@dataclass(frozen=True)
class Answer:
    """The final verdict on one request after its retries; `body`/`parsed` are set for `ok` only."""

    outcome: Outcome
    status: int | None
    error_code: str | None
    error_message: str | None
    attempts: int
    latency_ms: float
    body: bytes | None = None
    parsed: Any = None


class Cancelled(Exception):
    """The caller's stop event was set while a request waited for its budget or its next attempt."""


class FingerprintClient:
    """Talks to one Server API (version, host, key) for one run; use as a context manager."""

    def __init__(
        self,
        settings: ApiSettings,
        key: Secret,
        limiter: RateLimiter,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        young_event_retry: YoungEventRetry = YoungEventRetry(),
    ) -> None:
        if not key:
            raise ValueError("FINGERPRINT_SECRET_API_KEY is empty: export your Server API secret key")
        self.settings = settings
        self.dialect: Dialect = dialect(settings.api_version)
        self.base_url = self.dialect.base_url(settings.root_url)
        self._key = key
        self._log = logger or logging.getLogger("pipelines.api")
        self._limiter = limiter
        self._young = young_event_retry
        self._session = self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.settings.concurrency, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Proxy and CA-bundle variables are honoured as requests would, but resolved once here: requests'
        # per-call environment scan costs more CPU than the rest of a request.
        environment = session.merge_environment_settings(self.base_url, {}, None, None, None)
        session.proxies, session.verify = environment["proxies"], environment["verify"]
        session.trust_env = False
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        session.headers.update({**headers, **self.dialect.auth_headers(self._key.reveal())})
        return session

    def __enter__(self) -> FingerprintClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        self._limiter.close()

    @property
    def api_version(self) -> int:
        return self.dialect.version

    # --- one request ----------------------------------------------------------------------------------------
    def call(
        self,
        path: str,
        check: BodyCheck,
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
        stop: threading.Event | None = None,
        method: str = "GET",
    ) -> Answer:
        """GET (or `method`) `base_url + path` within the key's budget, retried, judged; raises FatalApiError on a 403.

        `check` judges a parsed 200 body. With `request_id`, a 404 for an ID younger than a minute is retried
        (the event may not have propagated yet) and an old ID's 404 says it is past retention. A set `stop`
        raises `Cancelled` before the next attempt.
        """
        stop = stop or threading.Event()
        tries: Counter[str] = Counter()
        latency_ms = 0.0
        while True:
            if not self._limiter.acquire(stop):
                raise Cancelled
            attempt = self._attempt(path, params, check, method)
            latency_ms += attempt.elapsed_ms
            tries[attempt.kind] += 1
            if attempt.kind == "fatal":
                stop.set()  # the other workers stop before their next attempt
                self._log.error("the Server API refused the run: %s", attempt.error_message)
                name = self.dialect.error_name(attempt.error_code) if attempt.error_code else None
                raise FatalApiError.forbidden(attempt.error_code, attempt.error_message, name)
            delay = self._retry_delay(attempt, tries, request_id)
            if delay is None:
                return self._answer(attempt, tries.total(), latency_ms, request_id)
            self._log.debug("%s: %s; retrying in %.2f s", request_id or path, attempt.error_message, delay)
            if stop.wait(delay):
                raise Cancelled

    def _attempt(self, path: str, params: Mapping[str, Any] | None, check: BodyCheck, method: str = "GET") -> Attempt:
        started = time.perf_counter()
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                timeout=self.settings.timeout_s,
                allow_redirects=False,  # custom auth headers would follow a redirect to any host
                stream=True,  # read the body separately, so a body cut short still has its status
            )
        except TRANSPORT_ERRORS as exc:
            return transport_failure(exc, self.settings.timeout_s, _ms_since(started))
        try:
            body = response.content
        except TRANSPORT_ERRORS as exc:
            response.close()
            return transport_failure(exc, self.settings.timeout_s, _ms_since(started), response.status_code)
        if method != "GET" and response.status_code == 200 and not body.strip():
            body = b"{}"  # a visitor deletion answers 200 with an empty body: accepted, not a bad payload
        return judge(response.status_code, response.headers, body, _ms_since(started), check)

    def _retry_delay(self, attempt: Attempt, tries: Counter[str], request_id: str | None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up with this attempt as the result."""
        s = self.settings
        if attempt.kind == "throttled":
            if tries["throttled"] >= s.max_attempts * _THROTTLE_ATTEMPTS_FACTOR:
                return None
            pause = attempt.retry_after_s or min(s.backoff_cap_s, s.backoff_base_s * 2 ** (tries["throttled"] - 1))
            self._limiter.penalize(pause)  # every caller of this key waits, in every process: acquire() does
            return 0.0
        if attempt.kind == "not_found":
            if not self._is_young(request_id) or tries["not_found"] > self._young.retries:
                return None
            return max(1e-3, random.uniform(self._young.min_delay_s, self._young.max_delay_s))
        if attempt.kind == "transient" and tries["transient"] < s.max_attempts:
            ceiling = min(s.backoff_cap_s, s.backoff_base_s * 2 ** (tries["transient"] - 1))
            return random.uniform(0.0, ceiling)  # exponential backoff with full jitter
        return None

    def _is_young(self, request_id: str | None) -> bool:
        age_ms = _age_ms(request_id)
        return age_ms is not None and abs(age_ms) < self._young.window_s * 1000

    def _answer(self, attempt: Attempt, attempts: int, latency_ms: float, request_id: str | None) -> Answer:
        code = attempt.error_code and self._key.redact(attempt.error_code)
        message = attempt.error_message and self._key.redact(attempt.error_message)
        if attempt.kind == "not_found":
            code = code or self.dialect.not_found_code
            age_ms = _age_ms(request_id)
            retention = self.settings.retention_days
            if age_ms is not None and age_ms > retention * DAY_MS:
                message = (
                    f"event is {age_ms // DAY_MS} days old; Fingerprint keeps events for {retention} days "
                    "(FINGERPRINT_RETENTION_DAYS), so it can no longer be fetched"
                )
        return Answer(
            attempt.outcome, attempt.status, code, message, attempts, latency_ms, attempt.body, attempt.parsed
        )

    # --- events by ID ---------------------------------------------------------------------------------------
    def fetch_event(self, request_id: str, stop: threading.Event | None = None) -> FetchResult:
        """Fetch one event (retries included) in the calling thread."""
        answer = self.call(self.dialect.event_path(request_id), self._event_check, request_id=request_id, stop=stop)
        if answer.outcome == "failed":
            self._log.warning(
                "%s failed after %d attempts: %s (%s)",
                request_id,
                answer.attempts,
                answer.error_code,
                answer.error_message,
            )
        return FetchResult(
            request_id=request_id,
            outcome=answer.outcome,
            http_status=answer.status,
            error_code=answer.error_code,
            error_message=answer.error_message,
            attempts=answer.attempts,
            latency_ms=answer.latency_ms,
            fetched_at=datetime.now(UTC),
            api_version=self.api_version,
            method="by_id",
            body=answer.body if answer.outcome == "ok" else None,
        )

    # --- visitor deletion -----------------------------------------------------------------------------------
    def delete_visitor(self, visitor_id: str) -> Answer:
        """`DELETE /visitors/{visitor_id}` (v4: `/v4/visitors/...`) within the key's budget, retried like any call.

        `ok`: the deletion is scheduled (the API deletes the visitor's events of the past 10 days; later GETs of
        them answer 404); `not_found`: the API knows no such visitor; `failed`: the answer says why.
        """
        return self.call(self.dialect.visitor_path(visitor_id), _any_body, method="DELETE")

    def _event_check(self, parsed: Any) -> BodyProblem | None:
        problem = self.dialect.shape_problem(parsed)
        if problem is not None:
            return "transient", "bad_payload", f"200 response: {problem}"
        throttled = self.dialect.throttle_problem(parsed)
        return ("throttled", "throttled", throttled) if throttled else None

    def fetch_events(self, request_ids: Iterable[str]) -> Iterator[FetchResult]:
        """Yield one FetchResult per ID, in completion order; raise FatalApiError if the API refuses the run.

        IDs are pulled from `request_ids` lazily, a bounded window ahead of the workers, so a huge iterable
        costs no memory and a killed run loses only what is in flight.
        """
        if isinstance(request_ids, str):
            raise TypeError("fetch_events takes an iterable of request IDs, not one ID: wrap it in a list")
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
                    pool.submit(self.fetch_event, request_id, stop).add_done_callback(finished.put)
                    in_flight += 1
                if not in_flight:
                    break
                future = finished.get()
                in_flight -= 1
                error = future.exception()
                if isinstance(error, Cancelled):
                    continue
                if error is not None:
                    stop.set()
                    raise error
                result = future.result()
                outcomes[result.outcome] += 1
                yield result
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self._log.info("fetched %d request IDs by ID: %s", outcomes.total(), dict(outcomes) or "none")


def _any_body(parsed: Any) -> BodyProblem | None:
    """A visitor deletion's 200 carries nothing to judge."""
    return None


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _age_ms(request_id: str | None) -> int | None:
    """How old the event is by its ID's epoch-ms prefix (a partition hint, close to the event time)."""
    prefix = prefix_ms(request_id) if request_id else None
    return int(time.time() * 1000) - prefix if prefix is not None else None
