"""Client-side rate limiting shared by every thread and process that uses one secret key.

Fingerprint allows 5 requests/s per secret key with a burst bucket 3x that, and a 429 for one caller means
the key is over its budget for all callers. Parallel backfills on one machine therefore share one token
bucket, kept in a tiny file (named by the key's fingerprint, never the key) and updated under an exclusive
`flock`. Processes do not share a monotonic clock, so the file holds wall-clock times (`time.time()`).
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pipelines.api.secret import Secret

if TYPE_CHECKING:
    from pipelines.settings import ApiSettings

# tokens, last refill (wall clock), paused until (wall clock)
_STATE = struct.Struct("<ddd")
# a stored pause further ahead than this can only come from a wall clock that stepped back, or garbage
_MAX_PAUSE_S = 3600.0


class RateLimiter(Protocol):
    """What the client needs from a limiter."""

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until one request may be sent; False if `stop` was set while waiting."""
        ...

    def penalize(self, seconds: float) -> None:
        """Pause every caller of this key for `seconds` (the server said 429 / Retry-After)."""
        ...

    def close(self) -> None:
        """Release what the limiter holds open."""
        ...


def limiter_for(settings: ApiSettings, key: Secret, directory: Path) -> RateLimiter:
    """The limiter these settings ask for: a bucket file in `directory` shared per key, or none (rate 0 or inf)."""
    rate = settings.rate_limit_rps
    if not rate > 0 or math.isinf(rate):
        return Unlimited()
    return FileTokenBucket(Path(directory) / f"{key.fingerprint()}.bucket", rate=rate, burst=settings.burst_size)


def _sleep(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep; False if `stop` got set meanwhile."""
    if stop is None:
        time.sleep(seconds)
        return True
    return not stop.wait(seconds)


class Unlimited:
    """No rate limit and no file I/O; a 429's pause still holds for the threads of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused_until = 0.0  # time.monotonic()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        while True:
            if stop is not None and stop.is_set():
                return False
            with self._lock:
                wait = self._paused_until - time.monotonic()
            if wait <= 0:
                return True
            if not _sleep(wait, stop):
                return False

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    def close(self) -> None:
        pass


@dataclass
class _Bucket:
    tokens: float
    updated: float
    paused_until: float


class FileTokenBucket:
    """A token bucket (`rate` tokens/s, capacity `burst`) kept in the file `path`, shared across processes.

    `acquire` takes the lock only to read, refill, take and write 24 bytes; it sleeps outside the lock.
    `penalize` empties the bucket and pauses it, so after a 429 nobody sends before the pause ends and the
    budget then refills from zero instead of bursting straight back into the limit.
    """

    def __init__(self, path: str | os.PathLike[str], *, rate: float, burst: float | None = None) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive finite number of requests/s, got {rate!r}")
        self.path = Path(path)
        self.rate = float(rate)
        self.burst = max(1.0, float(burst if burst is not None else 3 * rate))
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd: int | None = None
        self._fd_pid = 0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        while True:
            if stop is not None and stop.is_set():
                return False
            with self._locked() as state:
                now = time.time()
                self._refill(state, now)
                if now < state.paused_until:
                    wait = state.paused_until - now
                elif state.tokens >= 1.0 - 1e-9:
                    state.tokens -= 1.0
                    return True
                else:
                    wait = (1.0 - state.tokens) / self.rate
            if not _sleep(wait, stop):
                return False

    def penalize(self, seconds: float) -> None:
        with self._locked() as state:
            now = time.time()
            self._refill(state, now)
            state.tokens = min(state.tokens, 0.0)
            state.paused_until = max(state.paused_until, now + min(max(0.0, seconds), _MAX_PAUSE_S))

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _refill(self, state: _Bucket, now: float) -> None:
        if state.updated > now:  # the wall clock stepped back: accrue from now on rather than stall
            state.updated = now
        if state.paused_until > now + _MAX_PAUSE_S:
            state.paused_until = now
        # no tokens accrue while paused: the budget restarts from zero when the pause ends
        accrue_from = max(state.updated, min(state.paused_until, now))
        state.tokens = min(self.burst, state.tokens + (now - accrue_from) * self.rate)
        state.updated = now

    def _descriptor(self) -> int:
        # a forked child inherits the parent's open file description, and flock would not exclude the two
        if self._fd is None or self._fd_pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    @contextmanager
    def _locked(self) -> Iterator[_Bucket]:
        with self._thread_lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = self._read(fd)
                yield state
                os.pwrite(fd, _STATE.pack(state.tokens, state.updated, state.paused_until), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _read(self, fd: int) -> _Bucket:
        raw = os.pread(fd, _STATE.size, 0)
        if len(raw) == _STATE.size:
            tokens, updated, paused_until = _STATE.unpack(raw)
            if all(math.isfinite(v) for v in (tokens, updated, paused_until)):
                return _Bucket(min(tokens, self.burst), updated, paused_until)
        return _Bucket(self.burst, time.time(), 0.0)  # a new (or unreadable) bucket starts full
