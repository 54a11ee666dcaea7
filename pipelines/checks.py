"""Data contracts on the daily chain, as Dagster asset checks.

The failed-fetch rate is blocking: when too many fetches failed (a bad key, an outage), the day's tables
are not rebuilt from a half-fetched bronze and the previous publication stays.
"""

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    asset_check,
)

from pipelines.assets.ingest import raw_events
from pipelines.logs import request_ids_to_fetch
from pipelines.partitions import partition_day
from pipelines.resources import WarehouseResource
from pipelines.storage.lake import read_table

EVENTS = AssetKey("events")


def _logged_and_outcomes(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
    day = partition_day(context.partition_key)
    logged = read_table(warehouse.lake, "app_requests", [day])
    ids = set(request_ids_to_fetch(logged)) if logged.height else set()
    return ids, warehouse.bronze().outcomes(day)


@asset_check(asset=raw_events, description="ok + not_found + failed = distinct logged IDs")
def every_logged_request_id_is_accounted_for(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    ids, outcomes = _logged_and_outcomes(context, warehouse)
    fetched = set(outcomes["request_id"].to_list()) if outcomes.height else set()
    by_outcome = dict(outcomes.group_by("outcome").len().iter_rows()) if outcomes.height else {}
    missing = ids - fetched
    return AssetCheckResult(
        passed=not missing,
        metadata={
            "distinct_logged_ids": len(ids),
            **{f"outcome_{k}": v for k, v in sorted(by_outcome.items())},
            "missing": len(missing),
            "missing_examples": ", ".join(sorted(missing)[:5]),
        },
    )


def failed_fetch_rate_check(max_failed_rate: float) -> AssetChecksDefinition:
    @asset_check(
        asset=raw_events,
        blocking=True,
        description=f"at most {max_failed_rate:.0%} of the logged request IDs failed (FPWH_MAX_FAILED_RATE)",
    )
    def failed_fetch_rate_below_threshold(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        ids, outcomes = _logged_and_outcomes(context, warehouse)
        failed = outcomes.filter(pl.col("outcome") == "failed").height if outcomes.height else 0
        rate = failed / len(ids) if ids else 0.0
        return AssetCheckResult(
            passed=rate <= max_failed_rate,
            metadata={"failed": failed, "distinct_logged_ids": len(ids), "failed_rate": round(rate, 4)},
        )

    return failed_fetch_rate_below_threshold


@asset_check(asset=EVENTS, description="one row per request ID in events")
def events_request_ids_are_unique(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    events = read_table(warehouse.lake, "events", [partition_day(context.partition_key)])
    duplicates = events.height - events["request_id"].n_unique() if events.height else 0
    return AssetCheckResult(passed=duplicates == 0, metadata={"rows": events.height, "duplicates": duplicates})


@asset_check(asset=EVENTS, description="visitor_id present whenever identification succeeded (v3 and v4 rows)")
def events_have_visitor_ids(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    day = partition_day(context.partition_key)
    events = read_table(warehouse.lake, "events", [day])
    errors = read_table(warehouse.lake, "product_errors", [day])
    failed_ids = (
        set(errors.filter(pl.col("product") == "identification")["request_id"].to_list()) if errors.height else set()
    )
    # v4 has no error rows: a failed (or, for edge events, absent) identification leaves out the whole object,
    # so there identification succeeded when any other identification field is present
    v4_identified = pl.col("visitor_found").is_not_null() | pl.col("confidence_score").is_not_null()
    succeeded = (
        pl.when(pl.col("api_version") == 4).then(v4_identified).otherwise(~pl.col("request_id").is_in(list(failed_ids)))
    )
    missing = events.filter(pl.col("visitor_id").is_null() & succeeded).height if events.height else 0
    return AssetCheckResult(passed=missing == 0, metadata={"rows": events.height, "missing_visitor_id": missing})


@asset_check(asset=EVENTS, description="the API sent no field the catalog does not know")
def no_unknown_api_fields(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    unknown = read_table(warehouse.lake, "unknown_fields", [partition_day(context.partition_key)])
    paths = dict(unknown.select("json_path", "occurrences").iter_rows()) if unknown.height else {}
    return AssetCheckResult(
        passed=not paths,
        severity=AssetCheckSeverity.WARN,
        metadata={"unknown_paths": len(paths), "paths": ", ".join(sorted(paths)[:20])},
    )


def all_checks(max_failed_rate: float) -> list[AssetChecksDefinition]:
    return [
        every_logged_request_id_is_accounted_for,
        failed_fetch_rate_check(max_failed_rate),
        events_request_ids_are_unique,
        events_have_visitor_ids,
        no_unknown_api_fields,
    ]
