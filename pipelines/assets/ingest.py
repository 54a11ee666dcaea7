"""Ingest layer: log occurrences of a day, the request IDs still to fetch, and the raw events (bronze)."""

import time

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from pipelines.api.errors import FatalApiError
from pipelines.api.results import FetchResult
from pipelines.logs import read_logs, request_ids_to_fetch
from pipelines.metadata import counts, markdown_table
from pipelines.partitions import daily, partition_day
from pipelines.resources import AppLogsResource, FingerprintApiResource, WarehouseResource
from pipelines.storage.lake import partition_path, read_table, write_partition
from pipelines.tables import APP_REQUESTS_SCHEMA
from transforms.applog import REJECT_SCHEMA

QUEUE_TABLE = "fetch_queue"


@asset(group_name="ingest", partitions_def=daily, kinds={"parquet"})
def app_log_occurrences(
    context: AssetExecutionContext, app_logs: AppLogsResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Every request-ID occurrence of the day in the application logs → lake table `app_requests`.

    Bad lines are counted by reason and kept in `log_rejects`; a glob that matches nothing is an error,
    because a night that silently reads no log looks exactly like a night without traffic.
    """
    day = partition_day(context.partition_key)
    result = read_logs(app_logs.glob, app_logs.options(), day=day)
    if not result.files:
        raise FileNotFoundError(f"FPWH_LOG_GLOB={app_logs.glob!r} matches no file: point it at your logs")
    occurrences = result.occurrences.select(APP_REQUESTS_SCHEMA.names())
    write_partition(warehouse.lake, "app_requests", day, occurrences)
    write_partition(warehouse.lake, "log_rejects", day, result.rejects.select(REJECT_SCHEMA.names()))
    ids = request_ids_to_fetch(result.occurrences)
    return MaterializeResult(
        metadata={
            "occurrences": occurrences.height,
            "distinct_request_ids": len(ids),
            "files_read": len(result.files),
            "lines_read": result.lines_read,
            "rejected_lines": MetadataValue.json(dict(result.reject_counts)),
            "preview": MetadataValue.md(markdown_table(occurrences.head(5))),
        }
    )


@asset(group_name="ingest", partitions_def=daily, deps=[app_log_occurrences], kinds={"parquet"})
def request_ids_to_fetch_queue(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    """The day's distinct logged request IDs that have no final (`ok`/`not_found`) outcome in bronze yet."""
    day = partition_day(context.partition_key)
    logged = read_table(warehouse.lake, "app_requests", [day])
    ids = request_ids_to_fetch(logged) if logged.height else []
    done = warehouse.bronze().done_ids(day)
    queue = pl.DataFrame({"request_id": [i for i in ids if i not in done]}, schema={"request_id": pl.String})
    write_partition(warehouse.lake.parent / "state", QUEUE_TABLE, day, queue)
    return MaterializeResult(
        metadata={
            "logged_ids": len(ids),
            "already_fetched": len(ids) - queue.height,
            "to_fetch": queue.height,
        }
    )


@asset(
    group_name="ingest",
    partitions_def=daily,
    deps=[request_ids_to_fetch_queue],
    pool="fingerprint_api",
    kinds={"parquet"},
)
def raw_events(
    context: AssetExecutionContext, fingerprint_api: FingerprintApiResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Fetch every queued request ID from the Server API and land each outcome, raw body included, in bronze.

    Results land in small batches as they arrive, so a run killed mid-fetch loses only the batch in
    flight, and a re-run fetches only what has no final outcome yet (0 calls for a finished day).
    """
    day = partition_day(context.partition_key)
    queue_file = partition_path(warehouse.lake.parent / "state", QUEUE_TABLE, day)
    queue = pl.read_parquet(queue_file)["request_id"].to_list() if queue_file.exists() else []
    bronze = warehouse.bronze()
    done = bronze.done_ids(day)
    todo = [rid for rid in queue if rid not in done]
    landed = _fetch_and_land(context, fingerprint_api, warehouse, todo)
    bronze.compact(day)
    outcomes = bronze.outcomes(day)
    totals = counts(outcomes["outcome"].to_list())
    calls = sum(r.attempts for r in landed)
    return MaterializeResult(
        metadata={
            "requested": len(todo),
            "api_calls": calls,
            "api_calls_per_event": round(calls / len(todo), 3) if todo else 0.0,
            "outcomes_this_run": MetadataValue.json(counts(r.outcome for r in landed)),
            "outcomes_total": MetadataValue.json(totals),
            "failed_codes": MetadataValue.json(
                counts(r.error_code or "" for r in landed if r.outcome == "failed")
            ),
        }
    )


def _fetch_and_land(
    context: AssetExecutionContext,
    api: FingerprintApiResource,
    warehouse: WarehouseResource,
    todo: list[str],
) -> list[FetchResult]:
    """Fetch `todo`, appending results to bronze every ~2 s, logging progress at least every 10 s."""
    day = partition_day(context.partition_key)
    bronze, landed, buffer = warehouse.bronze(), [], []
    started = last_flush = last_log = time.monotonic()
    rate_dir = warehouse.root / ".locks" / "ratelimit"
    try:
        with api.client(rate_dir) as client:
            for result in client.fetch_events(todo):
                buffer.append(result)
                now = time.monotonic()
                if now - last_flush >= 2.0 or len(buffer) >= 500:
                    bronze.append(day, buffer)
                    landed += buffer
                    buffer, last_flush = [], now
                if now - last_log >= 10.0:
                    _log_progress(context, len(landed) + len(buffer), len(todo), now - started)
                    last_log = now
    except FatalApiError:
        context.log.error("the Server API refused the run; results fetched so far are kept")
        raise
    finally:
        if buffer:
            bronze.append(day, buffer)
            landed += buffer
    _log_progress(context, len(landed), len(todo), time.monotonic() - started)
    return landed


def _log_progress(context: AssetExecutionContext, done: int, total: int, elapsed: float) -> None:
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("inf")
    context.log.info(f"fetched {done}/{total} events, {rate:.1f}/s, ETA {eta:.0f} s")
