"""What goes wrong between a client and the Server API: rate limiting, 5xx, dropped and truncated answers.

The faults are the ones a production exporter meets (API.md 4.2/4.3): HTTP 429 with `Retry-After`, the v3
throttle hidden inside a 200, gateway errors whose body is not even JSON, connections closed before an answer,
and bodies cut short by a failing proxy. Draws come from one RNG seeded by the config seed and taken in arrival
order, so a test asking for 30 % 5xx gets about 30 %, and the same sequence in a single-threaded run.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from simulator.config import SimulatorConfig

TOO_MANY_REQUESTS = orjson.dumps({"error": {"code": "TooManyRequests", "message": "too many requests"}})
THROTTLED_IN_200 = orjson.dumps(
    {
        "products": {
            "identification": {"error": {"code": "429 Too Many Requests", "message": "too many requests"}},
            "botd": {"error": {"code": "TooManyRequests", "message": "too many requests"}},
        }
    }
)
"""The v3 `GET /events` throttle since 2023: HTTP 200 whose products report 429 (examples/v3/…_too_many_requests)."""


@dataclass(frozen=True, slots=True)
class ServerError:
    """A canned 5xx as an API gateway or load balancer sends it (not always JSON)."""

    status: int
    content_type: str
    body: bytes
    retry_after: str | None = None


SERVER_ERRORS: tuple[ServerError, ...] = (
    ServerError(
        500, "application/json", orjson.dumps({"error": {"code": "Failed", "message": "internal server error"}})
    ),
    ServerError(
        502,
        "text/html",
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    ),
    ServerError(503, "text/plain", b"upstream connect error or disconnect/reset before headers", "1"),
)

DROP, SERVER_ERROR, TRUNCATE = "drop", "server_error", "truncate"


class TokenBucket:
    """A token bucket of `size` tokens refilled at `rate` per second; thread-safe."""

    def __init__(self, rate: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.size, self._clock = rate, size, clock
        self._tokens = float(size)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend one token if available; False means the request is over the limit."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.size, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class Faults:
    """Per-request fault decisions for one simulator, reproducible from the config seed."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._rng = random.Random(f"faults:{config.seed}")
        self._lock = threading.Lock()
        self.bucket = TokenBucket(config.rps_limit, config.bucket_size) if config.rps_limit else None

    def draw(self) -> tuple[str | None, ServerError | None]:
        """One decision for an API request: (None | DROP | SERVER_ERROR | TRUNCATE, the 5xx to send)."""
        c = self.config
        with self._lock:
            u = self._rng.random()
            if u < c.drop_rate:
                return DROP, None
            if u < c.drop_rate + c.fail_5xx_rate:
                return SERVER_ERROR, self._rng.choice(SERVER_ERRORS)
            if u < c.drop_rate + c.fail_5xx_rate + c.truncate_rate:
                return TRUNCATE, None
            return None, None

    def over_limit(self) -> bool:
        """True when this request exceeds the rate limit (never when no limit is configured)."""
        return self.bucket is not None and not self.bucket.take()

    def throttle_in_200(self) -> bool:
        """Whether a throttled event request is answered with the in-200 throttle body instead of a 429."""
        rate = self.config.throttle_in_200_rate
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate
