"""The privacy mode each table of a day was written with: a change of setting never mixes two forms silently.

IP addresses and URLs are rewritten when a table is written (`transforms.privacy`), so a day's tables hold them in
the form of the settings at that moment. Joins between the tables of a day (the log context's `ip` with
`events.ip`, a visitor's IPs across tables) only work when they share one form, so every writer of a table
holding them records its mode in the table `privacy_modes` (one row per table and day, staged and published with
the tables it describes), and a partial rebuild checks it:
- the whole-day run rewrites every such table of the day under the current settings: that is how a day is switched
  to another mode (its first writer, `app_log_occurrences`, re-reads the logs, then the silver tables follow);
- a rebuild of the silver tables alone (`--select 'group:silver'`, the refresh's `rebuild_day`) refuses with
  `PrivacyModeMismatch` when the day's log tables hold another form, naming the day, both modes and the fix.
Days written before this record existed were written in full, and read so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import polars as pl

from pipelines.storage.warehouse import Warehouse
from pipelines.tables import PRIVACY_MODES_SCHEMA, PRIVATE_TABLES
from transforms.privacy import FULL, PrivacyPolicy, describe_mode

TABLE = "privacy_modes"


class PrivacyModeMismatch(RuntimeError):
    """Rewriting some tables of a day would leave it holding IP addresses or URLs in two forms."""


def recorded_modes(warehouse: Warehouse, day: date) -> dict[str, tuple[str, str, str]]:
    """Table -> (ip mode, url mode, key tag) of every table holding IPs or URLs that holds rows of `day`."""
    rows = warehouse.read_day(TABLE, day)
    recorded = {
        r["table_name"]: (r["ip_privacy"], r["url_privacy"], r["key_id"] or "") for r in rows.iter_rows(named=True)
    }
    full = _mode(FULL)
    held = warehouse.tables_holding(day)
    return {name: recorded.get(name, full) for name in PRIVATE_TABLES if name in held}


def check(warehouse: Warehouse, day: date, writing: Iterable[str], policy: PrivacyPolicy) -> None:
    """Raise PrivacyModeMismatch when the day's other tables holding IPs or URLs are in another form than `policy`."""
    writing = set(writing)
    others = {name: mode for name, mode in recorded_modes(warehouse, day).items() if name not in writing}
    differing = sorted(name for name, mode in others.items() if mode != _mode(policy))
    if not differing:
        return
    held = describe_mode(*others[differing[0]])
    raise PrivacyModeMismatch(
        f"{day}: {', '.join(differing)} hold IP addresses and URLs as {held}, and rewriting "
        f"{', '.join(sorted(writing & set(PRIVATE_TABLES)))} now would store {policy.label}: the day would mix both "
        f"forms and joins between its tables would break. Re-run the whole day (`./fpwh run {day}`, or `dagster asset "
        f"materialize -m pipelines.definitions --select '*' --partition {day}`) to rewrite all of it under the current "
        "settings, or "
        "set FPWH_IP_PRIVACY / FPWH_URL_PRIVACY (and FPWH_PRIVACY_KEY) back"
    )


def record(warehouse: Warehouse, day: date, written: Iterable[str], policy: PrivacyPolicy) -> None:
    """Note that `written` tables of `day` were just written under `policy` (only those holding IPs or URLs)."""
    names = [name for name in written if name in PRIVATE_TABLES]
    if not names:
        return
    kept = warehouse.read_day(TABLE, day)
    kept = kept.filter(~pl.col("table_name").is_in(names)).select(PRIVACY_MODES_SCHEMA.names()) if kept.height else kept
    ip, url, key_id = _mode(policy)
    now = datetime.now(UTC)
    new = pl.DataFrame([(n, ip, url, key_id or None, now) for n in names], schema=PRIVACY_MODES_SCHEMA, orient="row")
    rows = pl.concat([kept.cast(dict(PRIVACY_MODES_SCHEMA)), new]) if kept.height else new
    warehouse.stage(TABLE, day, rows.sort("table_name"))


def _mode(policy: PrivacyPolicy) -> tuple[str, str, str]:
    return policy.ip, policy.url, policy.key_id
