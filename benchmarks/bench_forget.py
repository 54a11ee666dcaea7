"""Benchmark of the right to erasure: time to forget one visitor in a 30-day warehouse (not a test).

    .venv/bin/python benchmarks/bench_forget.py [--days 30] [--events-per-day 1000]

A warehouse of `--days` days is built the way the daily job builds it, minus the API: each day's events are
the simulator's own bodies (`simulator.events.render_v3`, what `GET /events/{id}` serves), landed in bronze,
flattened into the silver tables and published with their feeds (`build_silver_day`, `publish_day`). Then the
population's most frequent returning visitor (present on most days) is forgotten with `forget_visitors` and the
wall time is printed, whole and per day of the warehouse and per day rewritten, with what was removed.
The cost grows with the days holding the visitor (each is republished whole) and with bronze's size (every raw
body is searched for the visitor's ID).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.api.results import FetchResult  # noqa: E402
from pipelines.erasure import forget_visitors  # noqa: E402
from pipelines.feeds import build_feeds  # noqa: E402
from pipelines.settings import WarehouseSettings  # noqa: E402
from pipelines.silver import build_silver_day  # noqa: E402
from pipelines.tables import open_warehouse  # noqa: E402
from simulator.events import render_v3  # noqa: E402
from simulator.population import Population  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-day", type=int, default=1000)
    args = parser.parse_args()
    population = Population(1, args.events_per_day)
    last = datetime.now(UTC).date() - timedelta(days=2)
    days = [last - timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    visitor = population.visitor(0).visitor_id
    with tempfile.TemporaryDirectory() as folder:
        store = open_warehouse(WarehouseSettings(directory=str(Path(folder) / "warehouse")))
        started = time.perf_counter()
        events = 0
        for day in days:
            now = datetime.now(UTC)
            results = [
                FetchResult(rid, "ok", 200, None, None, 1, 1.0, now, 3, "search", orjson.dumps(render_v3(facts)))
                for _, rid in population.day_events(day)
                for facts in [population.facts(rid)]
            ]
            events += len(results)
            store.bronze.append(day, results)
            build_silver_day(store, day, workers=1)
            store.publish_day(day, derive=lambda con, day=day: build_feeds(con, day))
        built = time.perf_counter() - started
        print(f"built {args.days} days, {events} events, in {built:.1f} s ({built / args.days:.2f} s per day)")
        held = store.reader().execute(
            "SELECT count(*), count(DISTINCT day) FROM events WHERE visitor_id = ?", [visitor]
        )
        rows, on_days = held.fetchall()[0]
        print(f"visitor: {rows} events on {on_days} of {args.days} days")

        report = forget_visitors(store, [visitor], log=lambda _: None)

        seconds = report.seconds
        rewritten = len(report.days)
        print(f"forget one visitor: {seconds:.2f} s for a {args.days}-day warehouse of {events} events")
        print(f"  per day of the warehouse: {seconds / args.days:.3f} s")
        print(f"  per day rewritten:        {seconds / max(rewritten, 1):.3f} s ({rewritten} days rewritten)")
        print(f"  rows removed: {dict(report.rows)}")
        print(
            f"  files deleted: {report.purged.superseded_files + report.purged.debris_files}, "
            f"snapshots expired: {report.purged.snapshots}"
        )


if __name__ == "__main__":
    main()
