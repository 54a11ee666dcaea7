"""Dashboard feed tables: one `sql/feeds/<feed>.sql` SELECT per feed, run for one day, cast to a declared schema.

A BI tool polls these tables, so their column names and types are a public interface: each feed declares
them once here, the SQL must return exactly those columns in that order (a mismatch fails the run, not the
dashboard), and `pipelines.tables` registers them so they get a warehouse view and a data-dictionary entry.
A feed's day is its lake partition (`<lake>/<feed>/day=YYYY-MM-DD/data.parquet`), replaced whole on re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipelines.sql import SQL_DIR, first_line

INT, FLOAT, TEXT, FLAG = pl.Int64(), pl.Float64(), pl.String(), pl.Boolean()
INSTANT = pl.Datetime("us", "UTC")

RANK = {"rank": (INT, "1 = the row with the most events (or devices) on the day; ties broken by name.")}
RATES = {
    f"{signal}_rate": (FLOAT, f"Share of the events {meaning} (0..1; NULL when no event computed it).")
    for signal, meaning in [
        ("bot", "with a bad bot detected"),
        ("vpn", "through a VPN"),
        ("proxy", "through a proxy"),
        ("tor", "from a Tor exit node"),
        ("tampering", "from a tampered or anti-detect browser"),
        ("suspicious", "in `suspicious_requests` (at least one rule fired)"),
    ]
}
EVENTS = {
    "events": (INT, "Fetched events (distinct logged request IDs with an `ok` fetch)."),
    "unique_visitors": (INT, "Distinct Fingerprint visitor IDs (devices)."),
    "share_of_events": (FLOAT, "This row's share of the day's events (0..1)."),
}
ACTIVITY = {
    "requests": (INT, "Log occurrences (a retried request ID counts once per line)."),
    "unique_ips": (INT, "Distinct client IPs."),
    "unique_countries": (INT, "Distinct IP countries."),
    "failures": (INT, "Log lines whose outcome is `failure` (e.g. failed logins)."),
    "suspicious_requests": (INT, "Log lines whose event is in `suspicious_requests`."),
    "first_at": (INSTANT, "First log line of the day (UTC)."),
    "last_at": (INSTANT, "Last log line of the day (UTC)."),
}


@dataclass(frozen=True)
class Feed:
    """One daily feed: its SQL file is `sql/feeds/<name>.sql`, whose first line says what it answers."""

    name: str
    columns: dict[str, tuple[pl.DataType, str]]  # column → (dtype, description), in output order

    @property
    def path(self) -> Path:
        return SQL_DIR / "feeds" / f"{self.name}.sql"

    @property
    def description(self) -> str:
        return first_line(self.path)

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({name: dtype for name, (dtype, _) in self.columns.items()})

    @property
    def descriptions(self) -> dict[str, str]:
        return {name: text for name, (_, text) in self.columns.items()}


def _pick(source: dict[str, tuple[pl.DataType, str]], *names: str) -> dict[str, tuple[pl.DataType, str]]:
    return {name: source[name] for name in names}


FEEDS: tuple[Feed, ...] = (
    Feed(
        "feed_daily_traffic",
        {
            "requests": ACTIVITY["requests"],
            "request_ids": (INT, "Distinct request IDs logged."),
            "events": EVENTS["events"],
            "unique_visitors": EVENTS["unique_visitors"],
            "unique_accounts": (INT, "Distinct app accounts (the log's user ID, else the event's linked ID)."),
            "logins": (INT, "Log lines whose action is `login`."),
            "failed_logins": (INT, "`login` lines whose outcome is `failure`."),
            **_pick(RATES, "bot_rate", "vpn_rate", "proxy_rate", "tor_rate"),
            "incognito_rate": (FLOAT, "Share of the events in incognito / private mode (0..1)."),
            **_pick(RATES, "tampering_rate", "suspicious_rate"),
        },
    ),
    Feed(
        "feed_fetch_health",
        {
            "request_ids": (INT, "Distinct request IDs with a fetch outcome."),
            "ok": (INT, "Final outcome `ok`: the event was fetched."),
            "not_found": (
                INT,
                "Final outcome `not_found`: the API does not know the ID (typo, other workspace, expired).",
            ),
            "failed": (INT, "Final outcome `failed`: no answer after every retry."),
            "ok_rate": (FLOAT, "ok / request_ids (0..1)."),
            "failed_rate": (FLOAT, "failed / request_ids (0..1); the blocking check trips above FPWH_MAX_FAILED_RATE."),
            "fetches": (INT, "Fetch outcomes recorded (a re-run after a failure adds one)."),
            "http_attempts": (INT, "HTTP requests sent, retries included."),
            "retries": (INT, "http_attempts - fetches: retried 429 / 5xx / timeouts."),
            "latency_p50_ms": (FLOAT, "Median wall time per request ID across its attempts, ms."),
            "latency_p95_ms": (FLOAT, "95th percentile of that time, ms."),
            "latency_max_ms": (FLOAT, "Slowest request ID, ms."),
        },
    ),
    Feed(
        "feed_country_risk",
        {
            **RANK,
            "country_code": (TEXT, "IP country (ISO 3166 alpha-2, from ipInfo v4), or `unknown`."),
            "country_name": (TEXT, "Country name."),
            **EVENTS,
            **_pick(RATES, "bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "tampering_rate", "suspicious_rate"),
        },
    ),
    Feed(
        "feed_asn_risk",
        {
            **RANK,
            "asn": (TEXT, "Autonomous system number (text, from ipInfo v4), or `unknown`."),
            "asn_name": (TEXT, "AS name."),
            "asn_type": (TEXT, "AS type (isp, hosting, ...)."),
            **EVENTS,
            "datacenter_rate": (FLOAT, "Share of the events from a datacenter IP (0..1)."),
            **_pick(RATES, "bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "tampering_rate", "suspicious_rate"),
        },
    ),
    Feed(
        "feed_accounts_many_devices",
        {
            **RANK,
            "account_id": (TEXT, "App account: the log line's user ID, else the event's linked ID."),
            "requests": ACTIVITY["requests"],
            "unique_visitors": (INT, "Distinct visitor IDs (devices) that used the account."),
            **_pick(ACTIVITY, "unique_ips", "unique_countries"),
            "countries": (TEXT, "The IP countries, comma-separated, sorted."),
            **_pick(ACTIVITY, "failures", "suspicious_requests", "first_at", "last_at"),
        },
    ),
    Feed(
        "feed_visitors_many_accounts",
        {
            **RANK,
            "visitor_id": (TEXT, "Fingerprint visitor ID (device)."),
            "requests": ACTIVITY["requests"],
            "unique_accounts": (INT, "Distinct app accounts the device used."),
            **_pick(ACTIVITY, "unique_ips", "unique_countries", "failures"),
            "bot_detected": (FLAG, "At least one of its events had a bad bot detected."),
            **_pick(ACTIVITY, "suspicious_requests", "first_at", "last_at"),
        },
    ),
)


class FeedSchemaError(ValueError):
    """A feed's SQL returned other columns than its declaration in `pipelines.feeds.FEEDS`."""


def build_feed(con: duckdb.DuckDBPyConnection, feed: Feed, day: date) -> pl.DataFrame:
    """Run `feed`'s SQL for `day` on a warehouse connection; the rows cast to the feed's declared schema."""
    df = con.sql(feed.path.read_text(encoding="utf-8"), params={"day": day}).pl()
    if df.columns != list(feed.schema):
        raise FeedSchemaError(
            f"{feed.path} returned columns {df.columns}, but pipelines/feeds.py declares {list(feed.schema)}: "
            "make the SELECT list and the declaration agree"
        )
    return df.cast(dict(feed.schema), strict=True)
