"""Data contracts on the events table: unique request IDs, visitor IDs where identification worked, no unknown field."""

import dagster as dg
import polars as pl

from pipelines.defs.layer import Layer, partition_day
from pipelines.resources import WarehouseResource

EVENTS = dg.AssetKey("events")


@dg.asset_check(asset=EVENTS, description="one row per request ID in events")
def events_request_ids_are_unique(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    events = warehouse.store().read_day("events", partition_day(context))
    duplicates = events.height - events["request_id"].n_unique() if events.height else 0
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"rows": events.height, "duplicates": duplicates})


@dg.asset_check(asset=EVENTS, description="visitor_id present whenever identification succeeded (v3 and v4 rows)")
def events_have_visitor_ids(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    day = partition_day(context)
    store = warehouse.store()
    events = store.read_day("events", day)
    errors = store.read_day("product_errors", day)
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
    return dg.AssetCheckResult(passed=missing == 0, metadata={"rows": events.height, "missing_visitor_id": missing})


@dg.asset_check(asset=EVENTS, description="the API sent no field the catalog does not know")
def no_unknown_api_fields(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    unknown = warehouse.store().read_day("unknown_fields", partition_day(context))
    paths = dict(unknown.select("json_path", "occurrences").iter_rows()) if unknown.height else {}
    return dg.AssetCheckResult(
        passed=not paths,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unknown_paths": len(paths), "paths": ", ".join(sorted(paths)[:20])},
    )


def build(layer: Layer) -> list[dg.AssetChecksDefinition]:
    return [events_request_ids_are_unique, events_have_visitor_ids, no_unknown_api_fields]
