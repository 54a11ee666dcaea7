"""Dashboard feed tables: one `sql/feeds/<feed>.sql` SELECT per feed, run for one day, cast to a declared schema.

A BI tool polls these tables, so their column names and types are a public interface: each feed declares
them once here, the SQL must return exactly those columns in that order (a mismatch fails the run, not the
dashboard), and `pipelines.tables` registers them so they get a warehouse view and a data-dictionary entry.
A feed's day is computed when the day is published, with its tables, and replaced whole on re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipelines.sql import SQL_DIR, column_descriptions, first_line, view_path

INT, FLOAT, TEXT, FLAG = pl.Int64(), pl.Float64(), pl.String(), pl.Boolean()
INSTANT = pl.Datetime("us", "UTC")
RATES = ("bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "tampering_rate", "suspicious_rate")


@dataclass(frozen=True)
class Feed:
    """One daily feed: its SQL is `sql/feeds/<name>.sql`, whose first line says what it answers.

    `dtypes` are the output columns in order. A column is described where it is computed: by a `-- ` comment in
    the feed's SQL, or, for a column the feed passes through from its `source` view, by that view's comment.
    """

    name: str
    dtypes: dict[str, pl.DataType]
    source: str | None = None

    @property
    def path(self) -> Path:
        return SQL_DIR / "feeds" / f"{self.name}.sql"

    @property
    def description(self) -> str:
        return first_line(self.path)

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema(self.dtypes)

    @property
    def descriptions(self) -> dict[str, str]:
        inherited = column_descriptions(view_path(self.source)) if self.source else {}
        own = column_descriptions(self.path)
        return {name: own.get(name) or inherited.get(name, "") for name in self.dtypes}


def _typed(*groups: tuple[pl.DataType, str]) -> dict[str, pl.DataType]:
    """Columns in order from (dtype, "space-separated names") groups."""
    return {name: dtype for dtype, names in groups for name in names.split()}


_RISK = (FLOAT, " ".join(RATES))
FEEDS: tuple[Feed, ...] = (
    Feed(
        "feed_daily_traffic",
        _typed(
            (INT, "requests request_ids events unique_visitors unique_accounts logins failed_logins"),
            (FLOAT, "bot_rate vpn_rate proxy_rate tor_rate incognito_rate tampering_rate suspicious_rate"),
        ),
        source="daily_metrics",
    ),
    Feed(
        "feed_fetch_health",
        _typed(
            (INT, "request_ids ok not_found failed"),
            (FLOAT, "ok_rate failed_rate"),
            (INT, "fetches http_attempts retries"),
            (FLOAT, "latency_p50_ms latency_p95_ms latency_max_ms"),
        ),
        source="daily_metrics",
    ),
    Feed(
        "feed_country_risk",
        _typed(
            (INT, "rank"),
            (TEXT, "country_code country_name"),
            (INT, "events unique_visitors"),
            (FLOAT, "share_of_events"),
            _RISK,
        ),
    ),
    Feed(
        "feed_asn_risk",
        _typed(
            (INT, "rank"),
            (TEXT, "asn asn_name asn_type"),
            (INT, "events unique_visitors"),
            (FLOAT, "share_of_events datacenter_rate"),
            _RISK,
        ),
    ),
    Feed(
        "feed_accounts_many_devices",
        _typed(
            (INT, "rank"),
            (TEXT, "account_id"),
            (INT, "requests unique_visitors unique_ips unique_countries"),
            (TEXT, "countries"),
            (INT, "failures suspicious_requests"),
            (INSTANT, "first_at last_at"),
        ),
        source="account_devices",
    ),
    Feed(
        "feed_visitors_many_accounts",
        _typed(
            (INT, "rank"),
            (TEXT, "visitor_id"),
            (INT, "requests unique_accounts unique_ips unique_countries failures"),
            (FLAG, "bot_detected"),
            (INT, "suspicious_requests"),
            (INSTANT, "first_at last_at"),
        ),
        source="device_accounts",
    ),
)


class FeedSchemaError(ValueError):
    """A feed's SQL returned other columns than its declaration in `pipelines.feeds.FEEDS`."""


def build_feeds(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, pl.DataFrame]:
    """Every feed's rows of `day`, by feed name, from a warehouse reader."""
    return {feed.name: build_feed(con, feed, day) for feed in FEEDS}


def build_feed(con: duckdb.DuckDBPyConnection, feed: Feed, day: date) -> pl.DataFrame:
    """Run `feed`'s SQL for `day` on a warehouse connection; the rows cast to the feed's declared schema."""
    df = con.sql(feed.path.read_text(encoding="utf-8"), params={"day": day}).pl()
    if df.columns != list(feed.schema):
        raise FeedSchemaError(
            f"{feed.path} returned columns {df.columns}, but pipelines/feeds.py declares {list(feed.schema)}: "
            "make the SELECT list and the declaration agree"
        )
    return df.cast(dict(feed.schema), strict=True)
