"""Rebuild one day from bronze, everything that depends on it included: the refresh's way of rewriting a past day.

`rebuild_day` is the one place that knows the order: silver tables from bronze (`build_silver_day`, which
protects IPs and URLs and checks the day's privacy mode), publish (the new rows become the warehouse's views),
the day's feeds from the published views, publish again. It makes no API call and reads no log: the day's
`app_requests` and `log_rejects` stay as they are.

Atomicity, as far as this storage allows: each partition is replaced by a rename, the silver partitions of the
day are renamed together at the end of a build that succeeded (a failure leaves the day as it was), and
analysts see the new day at the first publish; between the two publishes (a second or so) the day's feeds are
those of before. A transactional table format can make the whole of it one commit.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.feeds import FEEDS, build_feed
from pipelines.resources import WarehouseResource
from pipelines.silver import SilverReport, build_silver_day
from pipelines.sql import view_files
from pipelines.storage.lake import write_partition
from pipelines.storage.warehouse import connect_read_only, publish_views
from pipelines.tables import schemas
from transforms.privacy import PrivacyPolicy


def rebuild_day(warehouse: WarehouseResource, day: date, policy: PrivacyPolicy) -> SilverReport:
    """Rewrite `day`'s silver tables, views and feeds from bronze; raise (and change nothing) when it cannot.

    Raises `RawBodiesDropped` when FPWH_RAW_RETENTION_DAYS dropped the day's bodies and `PrivacyModeMismatch`
    when the day's log tables hold IPs and URLs in another privacy mode than `policy`.
    """
    report = build_silver_day(warehouse.bronze(), warehouse.lake, day, policy)
    publish_views(warehouse.root, schemas(), view_files())
    publish_feeds(warehouse, day)
    return report


def publish_feeds(warehouse: WarehouseResource, day: date) -> dict[str, pl.DataFrame]:
    """Compute every feed of `day` from the published warehouse, replace its partitions, publish; return them."""
    with connect_read_only(warehouse.root) as con:
        frames = {feed.name: build_feed(con, feed, day) for feed in FEEDS}
    for name, df in frames.items():
        write_partition(warehouse.lake, name, day, df)
    publish_views(warehouse.root, schemas(), view_files())
    return frames
