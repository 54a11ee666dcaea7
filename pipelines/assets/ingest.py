"""Ingest layer: log occurrences of a day, the request IDs still to fetch, and the raw events (bronze)."""

from collections import Counter

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from pipelines.api.errors import FatalApiError
from pipelines.logs import read_logs, request_ids_to_fetch
from pipelines.metadata import counts, markdown_table
from pipelines.partitions import daily, partition_day
from pipelines.resources import AppLogsResource, FingerprintApiResource, WarehouseResource
from pipelines.storage.lake import partition_path, read_table, write_partition
from pipelines.strategy import fetch_day
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
def request_ids_to_fetch_queue(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """The day's distinct logged request IDs that have no final (`ok`/`not_found`) outcome in bronze yet."""
    day = partition_day(context.partition_key)
    logged = read_table(warehouse.lake, "app_requests", [day])
    ids = request_ids_to_fetch(logged) if logged.height else []
    done = warehouse.bronze().done_ids(day)
    queue = pl.DataFrame({"request_id": [i for i in ids if i not in done]}, schema={"request_id": pl.String})
    write_partition(warehouse.state, QUEUE_TABLE, day, queue)
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
    `FPWH_FETCH_STRATEGY` decides how: one call per ID, or pages of the events search (`pipelines.strategy`).
    """
    day = partition_day(context.partition_key)
    queue_file = partition_path(warehouse.state, QUEUE_TABLE, day)
    queue = pl.read_parquet(queue_file)["request_id"].to_list() if queue_file.exists() else []
    bronze = warehouse.bronze()
    done = bronze.done_ids(day)
    todo = [rid for rid in queue if rid not in done]
    rate_dir = warehouse.root / ".locks" / "ratelimit"
    try:
        with fingerprint_api.client(rate_dir) as client:
            fetched = fetch_day(
                client,
                bronze,
                warehouse.state,
                day,
                todo,
                context.log.info,
                strategy=fingerprint_api.fetch_strategy,
                keep=fingerprint_api.search_keep,
                page_size=fingerprint_api.search_page_size,
            )
    except FatalApiError:
        context.log.error("the Server API refused the run; every result fetched before is kept in bronze")
        raise
    bronze.compact(day)
    totals = counts(bronze.outcomes(day)["outcome"].to_list())
    summary = fetched.by_id
    return MaterializeResult(
        metadata={
            "requested": len(todo),
            "strategy": fetched.strategy,
            "fetched_by": fetched.method,
            "api_calls": fetched.api_calls,
            "api_calls_per_event": fetched.calls_per_event,
            "search_pages": fetched.search_pages,
            "search_events_landed": fetched.search_events_landed,
            "search_events_without_id": fetched.search_events_unkeyed,
            "search_stopped": fetched.search_stopped or "not_used",
            "by_id_calls": summary.api_calls,
            "outcomes_this_run": MetadataValue.json(dict(summary.outcomes + Counter(ok=fetched.search_events_landed))),
            "outcomes_total": MetadataValue.json(totals),
            "failed_codes": MetadataValue.json(dict(summary.failed_codes)),
        }
    )
