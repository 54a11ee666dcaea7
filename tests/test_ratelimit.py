"""The shared token bucket: one key's budget holds across threads and processes, pauses are shared."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.api.ratelimit import Clock, FileTokenBucket, Unlimited, limiter_for
from pipelines.api.secret import Secret
from pipelines.settings import ApiSettings

ROOT = Path(__file__).resolve().parents[1]

# Each worker process takes tokens from the shared bucket with two threads until `end` and prints when.
_WORKER = """
import sys, threading, time
from pipelines.api.ratelimit import FileTokenBucket, PostgresTokenBucket
from pipelines.storage.database import engine_for
where, rate, burst = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
if where.startswith("postgresql"):  # the bucket row every machine of a deployment shares
    bucket = PostgresTokenBucket(engine_for(where), "key-tag", rate=rate, burst=burst)
else:
    bucket = FileTokenBucket(where, rate=rate, burst=burst)
print("ready", flush=True)
start, end = map(float, sys.stdin.readline().split())  # the parent starts the clock once both are up
stamps = []
def take():
    while True:
        bucket.acquire()
        now = time.time()
        if now >= end:
            return
        stamps.append(now)
time.sleep(max(0.0, start - time.time()))
threads = [threading.Thread(target=take) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print("\\n".join(repr(s) for s in stamps))
"""


def _most_in_any_window(stamps: list[float], width: float) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for s in stamps[i:] if s < t + width) for i, t in enumerate(stamps)), default=0)


@pytest.fixture(params=["file", "postgresql"])
def bucket_at(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the shared bucket lives: a file (one machine) or a PostgreSQL row (a deployment)."""
    return str(tmp_path / "bucket") if request.param == "file" else request.getfixturevalue("postgres_url")


def test_two_processes_sharing_a_key_never_exceed_its_rate_together(bucket_at: str) -> None:
    rate, burst, duration = 20.0, 2.0, 2.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, bucket_at, str(rate), str(burst)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    assert all(w.stdout.readline().strip() == "ready" for w in workers)  # type: ignore[union-attr]
    start = time.time() + 0.2
    for w in workers:
        w.stdin.write(f"{start} {start + duration}\n")  # type: ignore[union-attr]
        w.stdin.close()  # type: ignore[union-attr]
    per_process = [[float(line) for line in w.stdout.read().split()] for w in workers]  # type: ignore[union-attr]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    stamps = [s for process in per_process for s in process]

    assert all(len(process) > 5 for process in per_process), "both processes got a share"
    assert len(stamps) <= burst + rate * duration + 1
    # not starved: a loaded machine may take fewer than the budget allows (the exact waits are checked on a driven
    # clock below), so only the upper bounds are tight here
    assert len(stamps) >= 0.25 * rate * duration
    for width in (0.25, 0.5, 1.0):
        assert _most_in_any_window(stamps, width) <= burst + rate * width + 1


class DrivenClock(Clock):
    """A clock the test drives: sleeping moves it on at once and is recorded, so waits are checked exactly."""

    def __init__(self, start: float = 1000.0) -> None:  # small: an epoch-sized float rounds 0.1 s steps
        self.t = start
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float, stop: threading.Event | None) -> bool:
        if stop is not None and stop.is_set():
            return False
        self.slept.append(seconds)
        self.t += seconds
        return True


def test_a_fresh_bucket_allows_its_burst_then_the_rate(tmp_path: Path) -> None:
    clock = DrivenClock()
    bucket = FileTokenBucket(tmp_path / "bucket", rate=5.0, burst=15.0, clock=clock)
    for _ in range(15):
        bucket.acquire()
    assert clock.slept == []  # the burst: no wait at all

    bucket.acquire()
    assert sum(clock.slept) == pytest.approx(0.2)  # then one token per 1/5 s


def test_a_pause_from_one_holder_blocks_the_others_and_the_budget_restarts_empty(tmp_path: Path) -> None:
    # two buckets on one file are two open file descriptions: flock treats them like two processes
    clock = DrivenClock()
    first = FileTokenBucket(tmp_path / "bucket", rate=10.0, burst=30.0, clock=clock)
    second = FileTokenBucket(tmp_path / "bucket", rate=10.0, burst=30.0, clock=clock)
    first.penalize(0.4)
    second.acquire()
    second.acquire()

    assert sum(clock.slept) == pytest.approx(0.4 + 0.1 + 0.1)  # the pause, then one token per 1/10 s, no burst


def test_the_real_clock_waits_out_a_pause(tmp_path: Path) -> None:
    bucket = FileTokenBucket(tmp_path / "bucket", rate=100.0, burst=100.0)
    bucket.penalize(0.2)
    started = time.monotonic()
    bucket.acquire()

    assert time.monotonic() - started >= 0.19  # a lower bound: waiting longer on a busy machine is still right


def test_acquire_gives_up_when_the_run_stops(tmp_path: Path) -> None:
    bucket = FileTokenBucket(tmp_path / "bucket", rate=1.0, burst=1.0)
    bucket.penalize(30)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()

    assert bucket.acquire(stop) is False  # had it not given up, it would have waited 30 s and returned True


def test_the_bucket_file_is_named_by_the_key_fingerprint_and_never_holds_the_key(tmp_path: Path) -> None:
    key = "sk-ratelimit-test-secret"
    limiter = limiter_for(ApiSettings(rate_limit_rps=5), Secret(key), tmp_path)
    limiter.acquire()
    limiter.close()

    (bucket_file,) = tmp_path.iterdir()
    assert bucket_file.name == f"{Secret(key).fingerprint()}.bucket"
    assert key.encode() not in bucket_file.read_bytes()


def test_no_rate_limit_means_no_waiting_and_no_file(tmp_path: Path) -> None:
    for rate in (0.0, float("inf")):
        limiter = limiter_for(ApiSettings(rate_limit_rps=rate), Secret("k"), tmp_path)
        assert isinstance(limiter, Unlimited)
    clock = DrivenClock()
    limiter = Unlimited(clock)
    for _ in range(1000):
        assert limiter.acquire()

    assert clock.slept == []
    assert list(tmp_path.iterdir()) == []


def test_an_unlimited_limiter_still_honours_a_pause_within_the_process() -> None:
    clock = DrivenClock()
    limiter = Unlimited(clock)
    limiter.penalize(0.2)
    limiter.acquire()

    assert sum(clock.slept) == pytest.approx(0.2)
