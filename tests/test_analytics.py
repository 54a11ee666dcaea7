"""The analyst views and the dashboard feeds, on simulator data with known planted patterns.

Two days of demo logs run through the real daily job (simulator over HTTP, Parquet, DuckDB): the first day
has user `u-sharer` logging in from 12 visitors, the second a bot burst from three headless browsers on one
datacenter network (`simulator.population`). The views and feeds must find both, and leave clean traffic be.
"""

from __future__ import annotations

import subprocess
from datetime import date

import duckdb
import polars as pl
import pytest

from pipelines.feeds import FEEDS, Feed, FeedSchemaError, build_feed
from pipelines.storage.duckdb_views import duckdb_type
from pipelines.storage.warehouse import DATABASE_FILE
from simulator.facts import ACCOUNT_SHARER, BOT_BURST


def test_the_account_sharing_feed_lists_u_sharer_with_12_devices_on_the_first_day(planted):
    rows = planted.sql("FROM feed_accounts_many_devices WHERE day = ? ORDER BY rank", [planted.sharer_day])
    top = rows.row(0, named=True)
    assert (top["rank"], top["account_id"], top["unique_visitors"], top["failures"]) == (1, "u-sharer", 12, 0)
    assert rows.height <= 3  # clean traffic: at most a couple of households above the threshold
    later = planted.sql(
        "FROM feed_accounts_many_devices WHERE day = ? AND account_id = 'u-sharer'", [planted.burst_day]
    )
    assert later.is_empty()  # the pattern is planted on the first day only


def test_the_bot_rate_spikes_on_the_burst_day_and_only_then(planted):
    rates = dict(planted.sql("SELECT day, bot_rate FROM feed_daily_traffic ORDER BY day").iter_rows())
    assert set(rates) == {planted.sharer_day, planted.burst_day}
    assert rates[planted.sharer_day] < 0.05
    assert rates[planted.burst_day] > 0.3 and rates[planted.burst_day] > 10 * max(rates[planted.sharer_day], 0.001)


def test_suspicious_requests_flags_every_burst_event_and_a_small_share_of_the_rest(planted):
    burst = planted.ids_of(planted.burst_day, BOT_BURST)
    events = planted.sql("SELECT day, request_id FROM events")
    flagged = planted.sql("SELECT day, request_id, rules_fired FROM suspicious_requests")
    fetched_burst = burst & set(events.filter(pl.col("day") == planted.burst_day)["request_id"])
    assert len(fetched_burst) > 30
    burst_rows = flagged.filter(pl.col("request_id").is_in(list(fetched_burst)))
    assert burst_rows.height == len(fetched_burst)
    assert all("bot_detected" in rules for rules in burst_rows["rules_fired"])
    planted_ids = set().union(*(set(p) for p in planted.planted.values()))
    clean = events.filter(~pl.col("request_id").is_in(list(planted_ids)))
    clean_flagged = flagged.filter(~pl.col("request_id").is_in(list(planted_ids)))
    assert clean.height >= 100  # two days of 60 logged requests: enough for a rate to mean something
    assert clean_flagged.height / clean.height < 0.15


def test_the_visitor_feed_finds_the_burst_devices_trying_many_accounts(planted):
    rows = planted.sql("FROM feed_visitors_many_accounts WHERE day = ? ORDER BY rank", [planted.burst_day])
    bots = rows.filter(pl.col("bot_detected"))
    assert bots.height == 3  # the burst's three headless browsers
    assert bots["unique_accounts"].min() >= 10 and bots["failures"].sum() > bots["requests"].sum() / 2
    assert rows.height - bots.height <= 2
    first_day = planted.sql("FROM feed_visitors_many_accounts WHERE day = ? AND bot_detected", [planted.sharer_day])
    assert first_day.is_empty()


def test_country_and_asn_feeds_rank_the_burst_network_first_with_its_risk_rates(planted):
    asns = planted.sql("FROM feed_asn_risk WHERE day = ? ORDER BY rank", [planted.burst_day])
    assert asns["rank"].to_list() == list(range(1, asns.height + 1))
    top = asns.row(0, named=True)
    assert top["bot_rate"] > 0.9 and top["datacenter_rate"] == 1.0 and top["suspicious_rate"] == 1.0
    assert abs(asns["share_of_events"].sum() - 1) < 1e-9
    countries = planted.sql("FROM feed_country_risk WHERE day = ? ORDER BY rank", [planted.sharer_day])
    assert abs(countries["share_of_events"].sum() - 1) < 1e-9 and countries["bot_rate"].max() < 0.5
    traffic = planted.sql("SELECT events FROM feed_daily_traffic WHERE day = ?", [planted.sharer_day]).item()
    assert countries["events"].sum() == traffic


def test_the_fetch_health_feed_accounts_for_every_logged_request_id(planted):
    for day in (planted.sharer_day, planted.burst_day):
        health = planted.sql("FROM feed_fetch_health WHERE day = ?", [day]).row(0, named=True)
        logged = planted.sql("SELECT count(DISTINCT request_id) FROM app_requests WHERE day = ?", [day]).item()
        assert health["ok"] + health["not_found"] + health["failed"] == health["request_ids"] == logged
        assert health["not_found"] >= 1  # the demo log's unknown IDs
        assert 0 < health["latency_p50_ms"] <= health["latency_p95_ms"] <= health["latency_max_ms"]


def test_visitor_profile_shows_the_sharer_on_12_devices_and_the_bots_as_bots(planted):
    sharer = planted.sql("FROM visitor_profile WHERE list_contains(linked_ids, 'u-sharer')")
    assert sharer.height == 12
    # a sharer's device may also be logged on the other day (the visitor pool is shared): count from the truth
    logged = planted.sql("SELECT DISTINCT day, request_id FROM app_requests_enriched WHERE fetch_outcome = 'ok'")
    days_of: dict[str, set[date]] = {}
    for day, rid in logged.iter_rows():
        days_of.setdefault(planted.sim.population.facts(rid).visitor_id, set()).add(day)
    assert {v: len(days_of[v]) for v in sharer["visitor_id"]} == dict(
        sharer.select("visitor_id", "days_seen").iter_rows()
    )
    bots = planted.sql("FROM visitor_profile WHERE bot_share = 1 ORDER BY requests DESC")
    assert bots.height >= 3 and bots["requests"].head(3).min() >= 10
    assert bots.row(0, named=True)["suspicious_share"] == 1.0 and len(bots.row(0, named=True)["app_user_ids"]) >= 10
    assert planted.sql("SELECT count(*) - count(DISTINCT visitor_id) FROM visitor_profile").item() == 0


def test_app_requests_enriched_gives_each_occurrence_its_account_and_rules(planted):
    sharer_ids = planted.ids_of(planted.sharer_day, ACCOUNT_SHARER)
    rows = planted.sql("FROM app_requests_enriched WHERE day = ?", [planted.sharer_day])
    sharer_rows = rows.filter(pl.col("request_id").is_in(list(sharer_ids)))
    assert set(sharer_rows["account_or_linked_id"]) == {"u-sharer"}  # the page set the linked ID on every one
    assert set(sharer_rows["account_id"].drop_nulls()) == {"u-sharer"}  # the account is what the log says
    assert (
        sharer_rows.select((pl.col("account_id") == pl.col("app_user_id")) | pl.col("account_id").is_null())
        .to_series()
        .all()
    )
    fetched, unfetched = rows.filter(pl.col("fetch_outcome") == "ok"), rows.filter(pl.col("fetch_outcome") != "ok")
    assert fetched["suspicious"].null_count() == 0
    assert unfetched.height >= 1 and unfetched["suspicious"].null_count() == unfetched.height  # unknown, not clean
    assert fetched.filter(pl.col("suspicious"))["rules_fired"].list.len().min() >= 1


def test_every_feed_view_has_its_declared_columns_and_types_and_one_partition_per_day(planted):
    with duckdb.connect(str(planted.warehouse / DATABASE_FILE), read_only=True) as con:
        for feed in FEEDS:
            described = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {feed.name})").fetchall()
            declared = [
                (c, duckdb_type(t).replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")) for c, t in feed.schema.items()
            ]
            declared.append(("day", "DATE"))
            assert described == declared, feed.name
            assert planted.world.store.published_days(feed.name) == [planted.sharer_day, planted.burst_day]


def test_rerunning_a_day_replaces_its_feed_rows_instead_of_adding_to_them(planted):
    before = {
        f.name: planted.sql(f"SELECT count(*) FROM {f.name} WHERE day = ?", [planted.sharer_day]).item() for f in FEEDS
    }
    assert planted.world.run_day(planted.sharer_day).success
    after = {
        f.name: planted.sql(f"SELECT count(*) FROM {f.name} WHERE day = ?", [planted.sharer_day]).item() for f in FEEDS
    }
    assert after == before and before["feed_daily_traffic"] == 1 and before["feed_fetch_health"] == 1


def test_a_feed_whose_sql_disagrees_with_its_declaration_fails_with_what_to_fix(planted):
    wrong = Feed("feed_daily_traffic", {"requests": pl.Int64()})
    with planted.world.store.reader() as con, pytest.raises(FeedSchemaError, match="declares"):
        build_feed(con, wrong, planted.sharer_day)


OLD_READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall():
    print(name, con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
"""


@pytest.mark.slow
def test_every_view_and_feed_reads_in_duckdb_1_1(planted, old_duckdb):
    python = old_duckdb("1.1")
    run = subprocess.run(
        [python, "-c", OLD_READER, str(planted.warehouse / DATABASE_FILE)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    counts = dict(line.split() for line in run.stdout.splitlines())
    assert {"visitor_profile", "suspicious_requests", "app_requests_enriched", *(f.name for f in FEEDS)} <= set(counts)
    assert int(counts["visitor_profile"]) > 0 and int(counts["feed_daily_traffic"]) == 2
