"""Client-side rate limiting shared by every thread and process that uses one secret key.

Fingerprint allows 5 requests/s per secret key with a burst bucket 3x that, and a 429 for one caller means
the key is over its budget for all callers. Every run that uses a key therefore shares one token bucket, named by
the key's fingerprint (never the key): a row of the catalog database when that is PostgreSQL (runs on several
machines), else a tiny file under an exclusive `flock` (the processes of one machine). One interface, one
refill rule, two places to keep 24 bytes.
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

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from pipelines.api.secret import Secret
from pipelines.storage.database import created_once

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


def limiter_for(settings: ApiSettings, key: Secret, directory: Path, engine: sa.Engine | None = None) -> RateLimiter:
    """The limiter these settings ask for: shared per key through the catalog database when it is PostgreSQL
    (every machine of a deployment), else through a bucket file in `directory` (every process of this machine);
    none when the rate is 0 or infinite."""
    rate = settings.rate_limit_rps
    if not rate > 0 or math.isinf(rate):
        return Unlimited()
    if engine is not None and engine.dialect.name == "postgresql":
        return PostgresTokenBucket(engine, key.fingerprint(), rate=rate, burst=settings.burst_size)
    return FileTokenBucket(Path(directory) / f"{key.fingerprint()}.bucket", rate=rate, burst=settings.burst_size)


class Clock:
    """Where a limiter reads the time and waits: the system's clocks. A test passes a subclass it drives, so what
    a limiter decides (how long it waits, and when) is checked exactly, whatever the machine's load."""

    def wall(self) -> float:
        """Seconds since the epoch: what a bucket shared by processes stores (they share no monotonic clock)."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back, for state that stays in one process."""
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event | None) -> bool:
        """Sleep; False if `stop` got set meanwhile."""
        if stop is None:
            time.sleep(seconds)
            return True
        return not stop.wait(seconds)


SYSTEM_CLOCK = Clock()


class Unlimited:
    """No rate limit and no file I/O; a 429's pause still holds for the threads of this process."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._paused_until = 0.0  # clock.monotonic()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        while True:
            if stop is not None and stop.is_set():
                return False
            with self._lock:
                wait = self._paused_until - self._clock.monotonic()
            if wait <= 0:
                return True
            if not self._clock.sleep(wait, stop):
                return False

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock.monotonic() + max(0.0, seconds))

    def close(self) -> None:
        pass


@dataclass
class _Bucket:
    tokens: float
    updated: float
    paused_until: float


class _SharedBucket:
    """A token bucket (`rate` tokens/s, capacity `burst`) whose state lives outside the process, under a lock.

    Subclasses say where the state lives (`_locked` yields it and stores it back) and whose clock counts (`_now`).
    `acquire` holds the lock only to refill, take and store; it sleeps outside the lock. `penalize` empties the
    bucket and pauses it, so after a 429 nobody sends before the pause ends and the budget then refills from zero
    instead of bursting straight back into the limit.
    """

    def __init__(self, rate: float, burst: float | None, clock: Clock = SYSTEM_CLOCK) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive finite number of requests/s, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(1.0, float(burst if burst is not None else 3 * rate))
        self.clock = clock

    def acquire(self, stop: threading.Event | None = None) -> bool:
        while True:
            if stop is not None and stop.is_set():
                return False
            with self._locked() as (state, now):
                self._refill(state, now)
                if now < state.paused_until:
                    wait = state.paused_until - now
                elif state.tokens >= 1.0 - 1e-9:
                    state.tokens -= 1.0
                    return True
                else:
                    wait = (1.0 - state.tokens) / self.rate
            if not self.clock.sleep(wait, stop):
                return False

    def penalize(self, seconds: float) -> None:
        with self._locked() as (state, now):
            self._refill(state, now)
            state.tokens = min(state.tokens, 0.0)
            state.paused_until = max(state.paused_until, now + min(max(0.0, seconds), _MAX_PAUSE_S))

    def close(self) -> None:
        pass

    def _refill(self, state: _Bucket, now: float) -> None:
        if state.updated > now:  # the clock stepped back: accrue from now on rather than stall
            state.updated = now
        if state.paused_until > now + _MAX_PAUSE_S:
            state.paused_until = now
        # no tokens accrue while paused: the budget restarts from zero when the pause ends
        accrue_from = max(state.updated, min(state.paused_until, now))
        state.tokens = min(self.burst, state.tokens + (now - accrue_from) * self.rate)
        state.updated = now

    def _fresh(self, now: float) -> _Bucket:
        return _Bucket(self.burst, now, 0.0)  # a new (or unreadable) bucket starts full

    @contextmanager
    def _locked(self) -> Iterator[tuple[_Bucket, float]]:
        raise NotImplementedError


class FileTokenBucket(_SharedBucket):
    """The bucket in a 24-byte file under an exclusive `flock`: every process of one machine shares it.

    Processes do not share a monotonic clock, so the file holds wall-clock times (`time.time()`).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, rate: float, burst: float | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        super().__init__(rate, burst, clock)
        self.path = Path(path)
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd: int | None = None
        self._fd_pid = 0

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _descriptor(self) -> int:
        # a forked child inherits the parent's open file description, and flock would not exclude the two
        if self._fd is None or self._fd_pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    @contextmanager
    def _locked(self) -> Iterator[tuple[_Bucket, float]]:
        with self._thread_lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self.clock.wall()
                state = self._read(fd, now)
                yield state, now
                os.pwrite(fd, _STATE.pack(state.tokens, state.updated, state.paused_until), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _read(self, fd: int, now: float) -> _Bucket:
        raw = os.pread(fd, _STATE.size, 0)
        if len(raw) == _STATE.size:
            tokens, updated, paused_until = _STATE.unpack(raw)
            if all(math.isfinite(v) for v in (tokens, updated, paused_until)):
                return _Bucket(min(tokens, self.burst), updated, paused_until)
        return self._fresh(now)


class PostgresTokenBucket(_SharedBucket):
    """The bucket in a row of the catalog database (PostgreSQL), locked with `SELECT ... FOR UPDATE`.

    Every machine of a deployment shares it, so the key's 5 requests/s hold whatever runs where; the database
    server's clock is the one clock they all read, so machines' clock skew cannot inflate the budget.
    """

    def __init__(self, engine: sa.Engine, key_tag: str, *, rate: float, burst: float | None = None) -> None:
        super().__init__(rate, burst)
        self.engine, self.key = engine, key_tag
        created_once(lambda: _BUCKETS.create(engine, checkfirst=True))  # two machines may start at once

    @contextmanager
    def _locked(self) -> Iterator[tuple[_Bucket, float]]:
        clock = sa.text("SELECT extract(epoch FROM clock_timestamp())")
        with self.engine.begin() as con:
            created = float(con.execute(clock).scalar_one())
            insert = pg_insert(_BUCKETS).values(key=self.key, tokens=self.burst, updated=created, paused_until=0.0)
            con.execute(insert.on_conflict_do_nothing(index_elements=["key"]))
            row = con.execute(sa.select(_BUCKETS).where(_BUCKETS.c.key == self.key).with_for_update()).one()
            # the time once the row is ours: a reading taken before waiting for the lock would be older than the
            # holder's, and refilling from it would hand out the time in between twice
            now = float(con.execute(clock).scalar_one())
            state = _Bucket(min(row.tokens, self.burst), row.updated, row.paused_until)
            yield state, now
            values = {"tokens": state.tokens, "updated": state.updated, "paused_until": state.paused_until}
            con.execute(sa.update(_BUCKETS).where(_BUCKETS.c.key == self.key).values(**values))


_BUCKETS = sa.Table(
    "fpwh_rate_buckets",
    sa.MetaData(),
    sa.Column("key", sa.String(64), primary_key=True),  # the key's fingerprint, never the key
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("paused_until", sa.Float, nullable=False),
)
