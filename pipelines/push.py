"""Events that arrive without a Server API call: sealed results read from the logs, and pushed webhooks.

The daily job lands both in bronze before it queues its fetches, so the fetch step finds them done and spends
no call on them: sealed events under the log's day (`method="sealed"`), the webhook inbox under each event's
day (`method="webhook"`, `pipelines.webhooks.inbox`). `arrivals` says, for run metadata, how each logged event
came in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import polars as pl

from pipelines.api.results import FetchResult
from pipelines.state import StateStore
from pipelines.storage.bronze import Bronze
from pipelines.webhooks.inbox import INBOX_LOCK, KnownIds, LandReport, land_inbox

ARRIVAL_METHODS = ("webhook", "sealed", "search", "by_id")


def land_sealed(bronze: Bronze, day: date, sealed: pl.DataFrame) -> int:
    """Land the day's opened sealed events that bronze does not hold yet (one record per event); their count."""
    if sealed.is_empty():
        return 0
    done = bronze.done_ids(day)
    fresh = sealed.unique("request_id", keep="first", maintain_order=True).filter(~pl.col("request_id").is_in(done))
    now = datetime.now(UTC)
    results = [
        FetchResult(rid, "ok", None, None, None, 0, 0.0, now, version, "sealed", body)
        for rid, version, body in fresh.select("request_id", "api_version", "body").iter_rows()
    ]
    bronze.append(day, results)
    return len(results)


def land_webhooks(
    state: StateStore, bronze: Bronze, known: KnownIds | None = None, log: Callable[[str], None] = print
) -> LandReport:
    """Move every acknowledged webhook that its receiver has not landed yet (a stopped or killed one) into bronze."""
    return land_inbox(state.webhook_inbox_dir, bronze, state.lock_path(INBOX_LOCK), known, log)


def arrivals(outcomes: pl.DataFrame, request_ids: list[str]) -> dict[str, int]:
    """How many of `request_ids` arrived by each method (`ARRIVAL_METHODS`); `no_event`: not found or failed."""
    ok = outcomes.filter(pl.col("outcome") == "ok").select("request_id", "method")
    logged = pl.DataFrame({"request_id": request_ids}, schema={"request_id": pl.String})
    methods = logged.join(ok, on="request_id", how="left")["method"].fill_null("no_event").to_list()
    counted = dict.fromkeys(ARRIVAL_METHODS, 0) | {"no_event": 0}
    for method in methods:
        counted[method] = counted.get(method, 0) + 1
    return counted
