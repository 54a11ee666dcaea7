"""The metric table of one demo day: each shared metric as the simulator knows it and as every place shows it.

    .venv/bin/python benchmarks/metric_table.py                    # runs `./fpwh demo` in a temporary folder
    .venv/bin/python benchmarks/metric_table.py --workdir .demo --warehouse warehouse   # a demo already run

Columns: `truth` (`simulator.truth`, from the demo logs the simulator wrote and the events it pushed by webhook),
`view` (`daily_metrics`, `device_accounts`, `account_devices`), `feed` (`feed_daily_traffic`,
`feed_fetch_health`, `feed_visitors_many_accounts`, `feed_accounts_many_devices`), `dashboard` (the values drawn
in `dashboard/index.html`, as formatted there) and `demo` (`sql/queries/daily_overview.sql`, as the demo prints
it). A blank cell: that place does not show the metric. Not a test (tests/test_metrics.py is); a report for
issue 11's closing note.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.__main__ import PUSH_SHARE  # noqa: E402
from pipelines.sql import query  # noqa: E402
from simulator.applog import logged_requests  # noqa: E402
from simulator.population import Population  # noqa: E402
from simulator.truth import DayTruth, Usage, day_truth  # noqa: E402
from simulator.webhooks import pushed_ids, webhook_body  # noqa: E402

SEED, DEMO_DAYS, DEMO_PER_DAY = 1, 3, 150  # the demo's defaults (demo/__main__.py)
DAILY = (
    "requests", "request_ids", "events", "unique_visitors", "unique_accounts", "logins", "failed_logins",
    "fetched_ok", "not_found", "failed", "ok_rate", "not_found_rate", "failed_rate",
    "bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "incognito_rate", "tampering_rate", "suspicious_rate",
)  # fmt: skip
FEED_NAMES = {"fetched_ok": "ok"}  # feed_fetch_health's name for a daily_metrics column
USAGE = (
    ("devices with 3+ accounts or 5+ IPs", "device_accounts", "feed_visitors_many_accounts", "unique_accounts"),
    ("accounts with 3+ devices or 5+ IPs", "account_devices", "feed_accounts_many_devices", "unique_visitors"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="the demo's --workdir of a demo already run (default: run one)")
    parser.add_argument("--warehouse", help="the demo's --warehouse of a demo already run")
    parser.add_argument("--day", type=date.fromisoformat, help="the day to show (default: the demo's last)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="metric-table-") as tmp:
        workdir = Path(args.workdir or Path(tmp) / "demo")
        warehouse = Path(args.warehouse or Path(tmp) / "warehouse").resolve()
        if args.workdir is None:
            run_demo(workdir, warehouse)
        print_table(warehouse, args.day)
    return 0


def run_demo(workdir: Path, warehouse: Path) -> None:
    started = time.monotonic()
    command = [sys.executable, "-m", "demo", "--workdir", str(workdir), "--warehouse", str(warehouse)]
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1"}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"ran ./fpwh demo in {time.monotonic() - started:.0f} s")


def print_table(warehouse: Path, day: date | None) -> None:
    with duckdb.connect(str(warehouse / "fingerprint.duckdb"), read_only=True) as con:
        days = [d for (d,) in con.execute("SELECT day FROM daily_metrics ORDER BY day").fetchall()]
        day = day or days[-1]
        truth = demo_truth(days, day)
        view = con.sql("FROM daily_metrics WHERE day = ?", params=[day]).pl().row(0, named=True)
        feed = con.sql("FROM feed_daily_traffic WHERE day = ?", params=[day]).pl().row(0, named=True)
        feed |= con.sql("FROM feed_fetch_health WHERE day = ?", params=[day]).pl().row(0, named=True)
        printed = {r["day"]: r for r in con.sql(query("daily_overview")).pl().iter_rows(named=True)}[day]
        usage = {label: usage_cells(con, day, view_name, feed_name, col) for label, view_name, feed_name, col in USAGE}
    drawn = dashboard_values(warehouse / "dashboard" / "index.html", day)
    rows = [("metric", "truth", "view", "feed", "dashboard", "demo")]
    for name in DAILY:
        feed_name = FEED_NAMES.get(name, name)
        rows.append(
            (
                name,
                cell(truth.metrics[name]),
                cell(view[name]),
                cell(feed.get(feed_name)),
                drawn.get(feed_name, ""),
                cell(printed.get(name)),
            )
        )
    for (label, view_name, _, _), truth_usage in zip(
        USAGE, (truth.accounts_per_device, truth.devices_per_account), strict=True
    ):
        listed, top = usage[label]
        rows.append((label, cell(sum(1 for u in truth_usage.values() if above(u))), *listed))
        most = max((len(u.others) for u in truth_usage.values()), default=None)
        rows.append((f"  most on one ({view_name})", cell(most), *top))
    print(f"\nmetric table for {day} (demo: seed {SEED}, {DEMO_PER_DAY} logged requests a day, push mode on)\n")
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def demo_truth(days: list[date], day: date) -> DayTruth:
    """What the simulator knows of `day`: the demo's log lines, and the events it pushed by webhook (v3)."""
    population = Population(SEED)
    now_ms = int(time.time() * 1000)  # later than the demo's writing: the same lines on every complete day
    logged = logged_requests(population, days[0], DEMO_DAYS, DEMO_PER_DAY, now_ms)
    pushed = pushed_ids(population, days[-1], PUSH_SHARE, now_ms) if day == days[-1] else []
    delivered = [rid for rid in pushed if webhook_body(population, rid, 3) is not None]
    return day_truth(population, logged, day, pushed=delivered)


def above(u: Usage) -> bool:
    return len(u.others) >= 3 or len(u.ips) >= 5


def usage_cells(con: duckdb.DuckDBPyConnection, day: date, view: str, feed: str, col: str) -> tuple[list, list]:
    """(rows above the threshold, the most on one row) in the view, the feed and the dashboard's list."""
    where = f"day = ? AND (unique_ips >= 5 OR {col} >= 3)"
    in_view = con.execute(f"SELECT count(*), max({col}) FROM {view} WHERE {where}", [day]).fetchone()
    most_view = con.execute(f"SELECT max({col}) FROM {view} WHERE day = ?", [day]).fetchone()[0]
    in_feed = con.execute(f"SELECT count(*), max({col}) FROM {feed} WHERE day = ?", [day]).fetchone()
    return [cell(in_view[0]), cell(in_feed[0]), "", ""], [cell(most_view), cell(in_feed[1]), "", ""]


def dashboard_values(page: Path, day: date) -> dict[str, str]:
    """The values the page draws for `day` (the `<title>` of each chart mark), as formatted on the page."""
    found = re.findall(r"<title>(\d{4}-\d{2}-\d{2}) (\w+): ([^<]*)</title>", page.read_text())
    return {name: html.unescape(value) for d, name, value in found if d == day.isoformat()}


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
