"""One definition per metric (issue 11 §2): on the simulator's planted days, every metric that appears in more
than one place equals the ground truth the simulator knows (`simulator.truth`: which user, which device, which
bot, which product ran), in the view, the feeds, the dashboard page and the demo's printed query."""

from __future__ import annotations

import html
import re
import textwrap
from datetime import date

import duckdb
import pytest

from pipelines.dashboard import num, pct
from pipelines.docs import README
from pipelines.sql import query
from simulator.truth import DayTruth, Usage, day_truth

# daily_metrics columns -> where else each one is shown (feed columns carry the same name unless mapped)
TRAFFIC = (
    "requests", "request_ids", "events", "unique_visitors", "unique_accounts", "logins", "failed_logins",
    "bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "incognito_rate", "tampering_rate", "suspicious_rate",
)  # fmt: skip
HEALTH = {"request_ids": "request_ids", "ok": "fetched_ok", "not_found": "not_found", "failed": "failed"}
HEALTH_RATES = ("ok_rate", "failed_rate")
DEMO = ("requests", "fetched_ok", "not_found", "unique_visitors", "bot_rate", "vpn_rate", "proxy_rate", "tor_rate")
RATES = frozenset(name for name in TRAFFIC + HEALTH_RATES if name.endswith("_rate"))
DASHBOARD_SERIES = {
    "requests": num, "unique_visitors": num, "ok": num, "not_found": num, "failed": num,
    "bot_rate": pct, "vpn_rate": pct, "proxy_rate": pct, "tor_rate": pct, "incognito_rate": pct,
    "tampering_rate": pct, "suspicious_rate": pct,
}  # fmt: skip


@pytest.fixture(scope="module")
def truth(planted) -> dict[date, DayTruth]:
    logged = planted.world.logged()
    return {day: day_truth(planted.sim.population, logged, day) for day in planted.world.days}


def same(actual: object, expected: object) -> bool:
    """Equal counts; rates equal to the last bits a SQL average and a Python division may differ in."""
    if isinstance(expected, float) and isinstance(actual, float):
        return actual == pytest.approx(expected, rel=1e-12, abs=1e-15)
    return actual == expected


def mismatches(where: str, actual: dict, expected: dict) -> list[str]:
    return [f"{where}.{k}: {actual[k]!r} != truth {v!r}" for k, v in expected.items() if not same(actual[k], v)]


def test_the_truth_holds_the_planted_patterns_and_something_of_every_rate(truth, planted):
    sharer, burst = truth[planted.sharer_day], truth[planted.burst_day]
    assert len(sharer.devices_per_account["u-sharer"].others) == 12  # the planted account sharer
    assert burst.metrics["bot_rate"] > 10 * sharer.metrics["bot_rate"]  # the planted bot burst
    # no fault is configured, so nothing fails; Tor exits are too rare (0.2 % of human visits) for 130 events
    for name in RATES - {"failed_rate", "tor_rate"}:
        assert sum(t.metrics[name] for t in truth.values()) > 0, f"{name} is 0 on both days: the test shows nothing"
    assert all(t.metrics["not_found"] > 0 for t in truth.values())


def test_daily_metrics_equals_the_truth(truth, planted):
    problems = []
    for day, t in truth.items():
        row = planted.sql("FROM daily_metrics WHERE day = ?", [day]).row(0, named=True)
        problems += mismatches(f"daily_metrics[{day}]", row, t.metrics)
    assert not problems, "\n".join(problems)


def test_the_daily_feeds_equal_the_truth(truth, planted):
    problems = []
    for day, t in truth.items():
        traffic = planted.sql("FROM feed_daily_traffic WHERE day = ?", [day]).row(0, named=True)
        problems += mismatches(f"feed_daily_traffic[{day}]", traffic, {k: t.metrics[k] for k in TRAFFIC})
        health = planted.sql("FROM feed_fetch_health WHERE day = ?", [day]).row(0, named=True)
        expected = {k: t.metrics[m] for k, m in HEALTH.items()} | {k: t.metrics[k] for k in HEALTH_RATES}
        problems += mismatches(f"feed_fetch_health[{day}]", health, expected)
    assert not problems, "\n".join(problems)


def usage_rows(usage: dict[str, Usage]) -> dict[str, tuple[int, int, int]]:
    return {key: (u.requests, len(u.others), len(u.ips)) for key, u in usage.items()}


def test_accounts_per_device_and_devices_per_account_equal_the_truth_in_views_and_feeds(truth, planted):
    for day, t in truth.items():
        devices = planted.sql(
            "SELECT visitor_id, requests, unique_accounts, unique_ips FROM device_accounts WHERE day = ?", [day]
        )
        assert {r[0]: r[1:] for r in devices.iter_rows()} == usage_rows(t.accounts_per_device)
        accounts = planted.sql(
            "SELECT account_id, requests, unique_visitors, unique_ips FROM account_devices WHERE day = ?", [day]
        )
        assert {r[0]: r[1:] for r in accounts.iter_rows()} == usage_rows(t.devices_per_account)

        stuffing = planted.sql(
            "SELECT visitor_id, requests, unique_accounts, unique_ips FROM feed_visitors_many_accounts WHERE day = ?",
            [day],
        )
        expected = {k: v for k, v in usage_rows(t.accounts_per_device).items() if v[1] >= 3 or v[2] >= 5}
        assert {r[0]: r[1:] for r in stuffing.iter_rows()} == expected
        sharing = planted.sql(
            "SELECT account_id, requests, unique_visitors, unique_ips FROM feed_accounts_many_devices WHERE day = ?",
            [day],
        )
        expected = {k: v for k, v in usage_rows(t.devices_per_account).items() if v[1] >= 3 or v[2] >= 5}
        assert {r[0]: r[1:] for r in sharing.iter_rows()} == expected
    assert any("u-sharer" in t.devices_per_account for t in truth.values())


def test_the_dashboard_page_shows_the_truth(truth, planted):
    page = (planted.warehouse / "dashboard" / "index.html").read_text()
    shown = {
        (date.fromisoformat(day), name): html.unescape(value)
        for day, name, value in re.findall(r"<title>(\d{4}-\d{2}-\d{2}) (\w+): ([^<]*)</title>", page)
    }
    names = {"ok": "fetched_ok"}
    expected = {
        (day, name): fmt(t.metrics[names.get(name, name)])
        for day, t in truth.items()
        for name, fmt in DASHBOARD_SERIES.items()
    }
    assert {k: shown.get(k) for k in expected} == expected
    latest = truth[max(truth)].metrics
    tiles = dict(re.findall(r'data-metric="(\w+)">([^<]*)<', page))
    assert tiles == {
        "requests": num(latest["requests"]),
        "unique_visitors": num(latest["unique_visitors"]),
        "bot_rate": pct(latest["bot_rate"]),
        "suspicious_rate": pct(latest["suspicious_rate"]),
        "ok_rate": pct(latest["ok_rate"]),
    }


def test_the_demo_query_prints_the_truth(truth, planted):
    printed = planted.sql(query("daily_overview"))  # the demo prints this frame (demo/__main__.py)
    assert printed["day"].to_list() == sorted(truth)
    for row in printed.iter_rows(named=True):
        metrics = truth[row["day"]].metrics
        expected = {k: round(metrics[k], 3) if k in RATES else metrics[k] for k in DEMO}
        assert {k: row[k] for k in DEMO} == expected


README_SQL = re.compile(r"```sql\n(.*?)```|`(SELECT [^`]+)`", re.DOTALL)


def readme_queries() -> list[str]:
    """Every SQL example of the README: the fenced `sql` blocks and the inline `SELECT ...` spans."""
    text = README.read_text()
    return [textwrap.dedent(block or inline).strip() for block, inline in README_SQL.findall(text)]


def test_every_sql_example_of_the_readme_runs_on_the_planted_warehouse(planted):
    queries = readme_queries()
    assert len(queries) >= 10 and any("FROM daily_metrics" in q for q in queries)
    failures = []
    for sql in queries:
        try:
            planted.sql(sql)
        except duckdb.Error as error:
            failures.append(f"{sql}\n  -> {error}")
    assert not failures, "\n\n".join(failures)


def test_the_readme_examples_take_shared_metrics_from_the_metric_views():
    """A daily rate, accounts per device or devices per account computed by hand from the base tables would be a
    second definition: the examples select those from `daily_metrics`, `device_accounts`, `account_devices`."""
    for sql in readme_queries():
        assert not re.search(
            r"count\(DISTINCT (app_user_id|account_id|visitor_id)\).*FROM (events|app_requests)\b", sql, re.S
        ), sql
        assert "len(app_user_ids)" not in sql, sql
