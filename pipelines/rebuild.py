"""Rebuild one day from bronze, everything that depends on it included: the refresh's way of rewriting a past day.

`rebuild_day` is the one place that knows the order: silver tables from bronze (`build_silver_day`, which
protects IPs and URLs and checks the day's privacy mode), staged; then the day is published with its feeds
computed over the warehouse as it will be (`Warehouse.publish_day`). It makes no API call and reads no log: the
day's `app_requests` and `log_rejects` stay as they are.

Atomic: the new silver files are staged (invisible) until the whole build succeeded, and the publish replaces the
day's files of every table and feed in one catalog transaction, so analysts see the day old or new, never half.
"""

from __future__ import annotations

from datetime import date

from pipelines.feeds import build_feeds
from pipelines.privacy_modes import PrivacyModeMismatch
from pipelines.silver import SilverReport, build_silver_day
from pipelines.storage.bronze import RawBodiesDropped
from pipelines.storage.warehouse import PublishReport, Warehouse
from transforms.privacy import PrivacyPolicy


def rebuild_day(warehouse: Warehouse, day: date, policy: PrivacyPolicy) -> tuple[SilverReport, PublishReport]:
    """Rewrite `day`'s silver tables and feeds from bronze and publish them; raise (and change nothing) when it cannot.

    Raises `RawBodiesDropped` when FPWH_RAW_RETENTION_DAYS dropped the day's bodies and `PrivacyModeMismatch`
    when the day's log tables hold IPs and URLs in another privacy mode than `policy`.
    """
    report = build_silver_day(warehouse, day, policy)
    return report, warehouse.publish_day(day, derive=lambda con: build_feeds(con, day))


def rebuild_if_possible(warehouse: Warehouse, day: date, policy: PrivacyPolicy) -> str | None:
    """`rebuild_day`, for a caller that goes on with other days: None when rebuilt, else why it could not be."""
    try:
        rebuild_day(warehouse, day, policy)
    except (PrivacyModeMismatch, RawBodiesDropped) as cannot:
        return str(cannot)
    return None
