"""Benchmark of the nightly refresh against a rate-limited simulator in its own process (not a test).

    .venv/bin/python benchmarks/bench_refresh.py [--events-per-day 20000] [--rps 5] [--changed 50]
    .venv/bin/python benchmarks/bench_refresh.py --api-version 4

A simulated day of `--events-per-day` events is fetched into a fresh bronze (the search: cheap), then
`--changed` of them are updated upstream through the Update API and the day is refreshed (`DayRefresh`) with
the client's limiter at `--rps`, as in production. Scenarios: every event of the day logged (dense), and 1 %
of them logged (sparse). It prints calls, calls per stored event, what was found, and wall time; then the time
of a silver build of the refreshed dense day (`event_versions` re-reads only the events with several versions).
Targets: dense <= 1/200 calls per event (v3) or 1/100 (v4) plus the events without a timestamp; sparse never
more calls than one per event.
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
from pipelines.fetch import DayFetch  # noqa: E402
from pipelines.fetch.refresh import DayRefresh  # noqa: E402
from pipelines.settings import ApiSettings, WarehouseSettings  # noqa: E402
from pipelines.silver import build_silver_day  # noqa: E402
from pipelines.storage.warehouse import Warehouse  # noqa: E402
from pipelines.tables import open_warehouse  # noqa: E402
from simulator.population import Population  # noqa: E402

SEED, API_KEY = 1, "sim-secret-key"
DAY = datetime.now(UTC).date() - timedelta(days=2)


def client(url: str, version: int, rps: float, work: Path) -> FingerprintClient:
    settings = ApiSettings(api_url=url, api_version=version, rate_limit_rps=rps, fetch_strategy="auto")
    key = Secret(API_KEY)
    return FingerprintClient(settings, key, limiter_for(settings, key, work / "bucket"))


def update(url: str, version: int, request_id: str) -> None:
    """Flag one event as suspect upstream, as a fraud team does (waiting out the simulator's rate limit)."""
    if version == 3:
        method, path, headers = requests.put, f"/events/{request_id}", {"Auth-API-Key": API_KEY}
    else:
        method, path, headers = requests.patch, f"/v4/events/{request_id}", {"Authorization": f"Bearer {API_KEY}"}
    while (answer := method(url + path, json={"suspect": True}, headers=headers, timeout=10)).status_code == 429:
        time.sleep(1.0)
    answer.raise_for_status()


def scenario(url: str, version: int, rps: float, ids: list[str], changed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        store = open_warehouse(WarehouseSettings(directory=str(work / "warehouse")))
        bronze = store.bronze
        with client(url, version, 0, work) as fast:
            DayFetch(DAY, fast, bronze, store.state, lambda _: None).run(ids)
        for rid in random.Random(SEED).sample(ids, min(changed, len(ids))):
            update(url, version, rid)
        before = stats(url)["by_kind"]
        started = time.perf_counter()
        with client(url, version, rps, work) as limited:
            report = DayRefresh(DAY, limited, bronze, lambda _: None).run()
        seconds = time.perf_counter() - started
        after = stats(url)["by_kind"]
        seen = after["event"] + after["search"] - before["event"] - before["search"]
        print(
            f"  {len(ids):>6} stored  {report.calls:>5} calls ({seen} seen by the API: {report.search_pages} pages, "
            f"{report.by_id_calls} by ID)  {report.calls / max(1, report.checked):.4f} calls/event  "
            f"{len(report.changed)} changed  {seconds:.1f} s"
        )
        if len(ids) > 1000:
            versions_cost(store)


def versions_cost(store: Warehouse) -> None:
    """A silver build of the refreshed day: `event_versions` re-reads only the events received more than once."""
    started = time.perf_counter()
    report = build_silver_day(store, DAY)
    seconds = time.perf_counter() - started
    print(f"  silver build of the day: {seconds:.2f} s, {report.rows['event_versions']} event_versions rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-day", type=int, default=20_000)
    parser.add_argument("--rps", type=float, default=5.0)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--api-version", type=int, default=3, choices=(3, 4))
    args = parser.parse_args()
    population = Population(SEED, args.events_per_day)
    every = [rid for _, rid in population.day_events(DAY)]
    options = ("--events-per-day", str(args.events_per_day), "--rps-limit", str(args.rps))
    with simulator_process(SEED, *options) as url:
        print(f"v{args.api_version}, {args.events_per_day} events/day, {args.rps} requests/s")
        print("dense (every event logged):")
        scenario(url, args.api_version, args.rps, every, args.changed)
        print("sparse (1 % logged):")
        scenario(url, args.api_version, args.rps, every[::100], max(1, args.changed // 100))


if __name__ == "__main__":
    main()
