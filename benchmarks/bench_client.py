"""Benchmark of the API client against the simulator in a separate process (not a test; run it by hand).

    .venv/bin/python benchmarks/bench_client.py [--requests 3000] [--seconds 15]

1. Throughput: 50 ms simulated latency, no rate limit anywhere, concurrency 32. Ideal = concurrency / latency;
   target >= 0.85 of it.
2. Throttled: the simulator allows R requests/s (429 + Retry-After above it), the client limiter is set above
   R so the 429 path is exercised. Target: sustained throughput within 10 % of R and zero lost requests
   (every ID yields exactly one final result, all ok).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.simproc import reset, simulator_process, stats  # noqa: E402
from pipelines.api.client import FingerprintClient  # noqa: E402
from pipelines.api.ratelimit import limiter_for  # noqa: E402
from pipelines.api.results import FetchResult  # noqa: E402
from pipelines.api.secret import Secret  # noqa: E402
from pipelines.settings import ApiSettings  # noqa: E402
from simulator.population import Population  # noqa: E402

SEED, EVENTS_PER_DAY, API_KEY = 1, 2000, "sim-secret-key"


def request_ids(n: int) -> list[str]:
    """n IDs of existing events, from the simulator's population (a pure function of the seed)."""
    population, ids = Population(SEED, EVENTS_PER_DAY), []
    day = datetime.now(UTC).date() - timedelta(days=1)
    while len(ids) < n:
        ids += [request_id for _, request_id in population.day_events(day)]
        day -= timedelta(days=1)
    return ids[:n]


def run(
    settings: ApiSettings, ids: list[str], bucket_dir: str | None = None
) -> tuple[list[tuple[float, FetchResult]], float, float]:
    """Fetch all IDs; (completion time, result) pairs, wall seconds and client CPU seconds."""
    done: list[tuple[float, FetchResult]] = []
    wall, cpu = time.perf_counter(), time.process_time()
    key = Secret(API_KEY)
    with FingerprintClient(settings, key, limiter_for(settings, key, Path(bucket_dir or "."))) as client:
        for result in client.fetch_events(ids):
            done.append((time.perf_counter() - wall, result))
    return done, time.perf_counter() - wall, time.process_time() - cpu


def lost(ids: list[str], done: list[tuple[float, FetchResult]]) -> int:
    """IDs without exactly one result, plus results that are not ok."""
    seen = Counter(r.request_id for _, r in done)
    return sum(seen[i] != 1 for i in set(ids)) + sum(r.outcome != "ok" for _, r in done)


def throughput(n: int, concurrency: int, latency_ms: float) -> None:
    ideal = concurrency / (latency_ms / 1000)
    with simulator_process(SEED, "--latency-ms", str(latency_ms)) as url:
        settings = ApiSettings(api_url=url, rate_limit_rps=0, concurrency=concurrency)
        run(settings, request_ids(concurrency * 2))  # warm up: connections, imports
        reset(url)
        ids = request_ids(n)
        done, wall, cpu = run(settings, ids)
        server = stats(url)
    rate = n / wall
    mean_latency = sum(r.latency_ms for _, r in done) / n
    print(f"[1] throughput: {n} requests, {latency_ms:g} ms latency, concurrency {concurrency}, no rate limit")
    print(f"    achieved {rate:.0f} req/s; ideal {ideal:.0f} req/s; ratio {rate / ideal:.3f} (target >= 0.85)")
    print(f"    wall per request x concurrency {wall / n * concurrency * 1000:.1f} ms (ideal {latency_ms:g} ms)")
    print(f"    mean request latency seen by the client {mean_latency:.1f} ms")
    print(f"    client CPU per request {cpu / n * 1e6:.0f} us; server calls per request {server['total'] / n:.3f}")
    print(f"    lost/not ok {lost(ids, done)}")


def throttled(rps: float, client_rps: float, seconds: float, concurrency: int, latency_ms: float) -> None:
    burst = round(3 * rps)
    n = int(rps * seconds) + burst  # ~`seconds` of sustained traffic after the server's burst
    with simulator_process(SEED, "--latency-ms", str(latency_ms), "--rps-limit", str(rps)) as url:
        with tempfile.TemporaryDirectory() as bucket_dir:
            settings = ApiSettings(api_url=url, rate_limit_rps=client_rps, concurrency=concurrency)
            ids = request_ids(n)
            done, wall, cpu = run(settings, ids, bucket_dir)
        server = stats(url)
    skip = burst / rps  # the opening burst is not sustained throughput: measure after ~its length
    steady = [t for t, r in done if t >= skip and r.outcome == "ok"]
    sustained = len(steady) / (done[-1][0] - skip)
    attempts = sum(r.attempts for _, r in done)
    print(f"[2] throttled: simulator limit {rps:g} req/s (burst {burst}), client limiter {client_rps:g} req/s")
    print(f"    {n} requests in {wall:.1f} s (concurrency {concurrency}, {latency_ms:g} ms latency)")
    print(
        f"    sustained {sustained:.2f} req/s after {skip:.1f} s; ratio to limit {sustained / rps:.3f} (target 0.9-1.1)"
    )
    print(f"    overall {n / wall:.2f} req/s; net of the opening burst {(n - burst) / wall / rps:.3f} of the limit")
    print(
        f"    429 answers {server['by_status'].get('429', 0)} ({server['by_status'].get('429', 0) / n:.3f} per request)"
    )
    print(f"    attempts per request {attempts / n:.3f}; client CPU per request {cpu / n * 1e6:.0f} us")
    print(f"    lost/not ok {lost(ids, done)} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--limit-rps", type=float, default=20.0)
    parser.add_argument("--client-rps", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--throttled-concurrency", type=int, default=8)
    a = parser.parse_args()
    throughput(a.requests, a.concurrency, a.latency_ms)
    throttled(a.limit_rps, a.client_rps, a.seconds, a.throttled_concurrency, a.latency_ms)


if __name__ == "__main__":
    main()
