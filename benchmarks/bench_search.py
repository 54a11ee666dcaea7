"""Benchmark of the fetch strategies against a rate-limited simulator in its own process (not a test).

    .venv/bin/python benchmarks/bench_search.py [--events-per-day 50000] [--rps 5] [--by-id-sample 300]
    .venv/bin/python benchmarks/bench_search.py --api-version 4

A simulated day of `--events-per-day` events; the simulator allows `--rps` requests/s (429 above) and the
client's limiter is set to the same rate, as in production. Scenarios:
- dense: every event of the day is logged (`by_id`, `search`, `auto`);
- sparse: 20 logged IDs in the same day (`by_id`, `search`, `auto`);
- keep=all: `search` landing every event of the day.
`by_id` on the dense day would take events / rps seconds (~2.8 h at 50,000 and 5 rps): it is measured on
`--by-id-sample` IDs and extrapolated linearly, and the output says so. Targets: `auto` <= 0.01 calls per
event on the dense day, and never more calls than `by_id` on the sparse one.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.simproc import simulator_process, stats  # noqa: E402
from pipelines.api.client import FingerprintClient  # noqa: E402
from pipelines.api.ratelimit import limiter_for  # noqa: E402
from pipelines.api.secret import Secret  # noqa: E402
from pipelines.fetch import DayFetch, FetchReport  # noqa: E402
from pipelines.settings import ApiSettings, WarehouseSettings  # noqa: E402
from pipelines.tables import open_warehouse  # noqa: E402
from simulator.population import Population  # noqa: E402

SEED, API_KEY = 1, "sim-secret-key"
API_VERSION = 3  # --api-version
DAY = datetime.now(UTC).date() - timedelta(days=2)


def calls_seen(url: str) -> int:
    return stats(url)["total"]


def fetch(url: str, rps: float, ids: list[str], strategy: str, keep: str = "logged") -> tuple[FetchReport, float, int]:
    """Run one strategy in a fresh warehouse; (report, wall seconds, calls the simulator counted)."""
    with tempfile.TemporaryDirectory() as work:
        settings = ApiSettings(
            api_url=url, api_version=API_VERSION, rate_limit_rps=rps, fetch_strategy=strategy, search_keep=keep
        )
        key = Secret(API_KEY)
        before = calls_seen(url)
        started = time.perf_counter()
        with FingerprintClient(settings, key, limiter_for(settings, key, Path(work) / "bucket")) as client:
            store = open_warehouse(WarehouseSettings(directory=work))
            bronze = store.bronze
            report = DayFetch(DAY, client, bronze, store.state, lambda _: None).run(ids)
        wall = time.perf_counter() - started
        outcomes = bronze.outcomes(DAY)
        missing = set(ids) - set(outcomes["request_id"].to_list())
        if missing:
            raise AssertionError(f"{strategy}: {len(missing)} logged IDs without an outcome")
    time.sleep(3.5)  # let the simulator's bucket refill, so every scenario starts from the same burst
    return report, wall, calls_seen(url) - before


def line(label: str, events: int, calls: float, wall: float, note: str = "") -> str:
    return (
        f"    {label:<26} {calls:>9.0f} calls  {calls / events:>8.4f} calls/event  "
        f"{wall:>9.1f} s  {wall / events * 1000:>8.3f} ms/event {note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events-per-day", type=int, default=50_000)
    parser.add_argument("--rps", type=float, default=5.0)
    parser.add_argument("--by-id-sample", type=int, default=300)
    parser.add_argument("--sparse", type=int, default=20)
    parser.add_argument("--api-version", type=int, default=3, choices=(3, 4))
    a = parser.parse_args()
    global API_VERSION
    API_VERSION = a.api_version
    day_ids = [rid for _, rid in Population(SEED, a.events_per_day).day_events(DAY)]
    n = len(day_ids)
    sparse_ids = random.Random(7).sample(day_ids, a.sparse)
    sample = random.Random(8).sample(day_ids, a.by_id_sample)
    with simulator_process(SEED, "--events-per-day", str(a.events_per_day), "--rps-limit", str(a.rps)) as url:
        requests.get(f"{url}/events/search", params={"limit": 1}, timeout=60)  # build the day before timing
        print(f"simulated day {DAY}: {n} events; Server API v{a.api_version}; simulator and client at {a.rps:g} req/s")
        print(f"[1] dense day: all {n} events logged")
        report, wall, calls = fetch(url, a.rps, sample, "by_id")
        by_id_calls, by_id_wall = calls / len(sample) * n, wall / len(sample) * n
        print(line("by_id (extrapolated)", n, by_id_calls, by_id_wall, f"<- measured on {len(sample)} IDs: "
                   f"{calls} calls, {wall:.1f} s, scaled x{n / len(sample):.0f}"))  # fmt: skip
        dense = {}
        for strategy in ("search", "auto"):
            report, wall, calls = fetch(url, a.rps, day_ids, strategy)
            dense[strategy] = (report, wall, calls)
            detail = f"({report.search_pages} pages + {report.by_id_calls} by-ID calls)"
            print(line(strategy, n, calls, wall, detail))
        _, auto_wall, auto_calls = dense["auto"]
        print(f"    auto vs by_id: {by_id_calls / auto_calls:.0f}x fewer calls, {by_id_wall / auto_wall:.0f}x faster; "
              f"auto {auto_calls / n:.4f} calls/event (target <= 0.01)")  # fmt: skip
        print(f"[2] sparse day: {a.sparse} logged IDs among {n} events")
        sparse = {}
        for strategy in ("by_id", "search", "auto"):
            report, wall, calls = fetch(url, a.rps, sparse_ids, strategy)
            sparse[strategy] = calls
            detail = f"({report.search_pages} pages + {report.by_id_calls} by-ID calls)"
            print(line(strategy, a.sparse, calls, wall, detail))
        verdict = "ok" if sparse["auto"] <= sparse["by_id"] else "WORSE"
        print(f"    auto / by_id calls = {sparse['auto'] / sparse['by_id']:.2f} (target <= 1: {verdict})")
        print("[3] keep=all: every event of the day, none logged")
        report, wall, calls = fetch(url, a.rps, [], "search", "all")
        landed = report.search_events_landed
        print(line("search keep=all", landed, calls, wall, f"({report.search_pages} pages, {landed} events landed)"))


if __name__ == "__main__":
    main()
