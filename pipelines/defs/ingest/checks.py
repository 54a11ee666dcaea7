"""Data contracts on the fetch: every logged ID has an outcome, and few enough failed (blocking).

The failed-fetch rate is blocking: when too many fetches failed (a bad key, an outage), the day's tables
are not rebuilt from a half-fetched bronze and the previous publication stays.
"""

import dagster as dg
import polars as pl

from pipelines.defs.layer import Layer, partition_day
from pipelines.logs import request_ids_to_fetch
from pipelines.resources import WarehouseResource

RAW_EVENTS = dg.AssetKey("raw_events")


def _logged_and_outcomes(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    day = partition_day(context)
    store = warehouse.store()
    logged = store.read_day("app_requests", day)
    ids = set(request_ids_to_fetch(logged)) if logged.height else set()
    return ids, store.bronze.outcomes(day)


def build(layer: Layer) -> list[dg.AssetChecksDefinition]:
    max_failed_rate = layer.settings.schedule.max_failed_rate

    @dg.asset_check(asset=RAW_EVENTS, description="ok + not_found + failed = distinct logged IDs")
    def every_logged_request_id_is_accounted_for(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        ids, outcomes = _logged_and_outcomes(context, warehouse)
        fetched = set(outcomes["request_id"].to_list()) if outcomes.height else set()
        by_outcome = dict(outcomes.group_by("outcome").len().iter_rows()) if outcomes.height else {}
        missing = ids - fetched
        return dg.AssetCheckResult(
            passed=not missing,
            metadata={
                "distinct_logged_ids": len(ids),
                **{f"outcome_{k}": v for k, v in sorted(by_outcome.items())},
                "missing": len(missing),
                "missing_examples": ", ".join(sorted(missing)[:5]),
            },
        )

    @dg.asset_check(
        asset=RAW_EVENTS,
        blocking=True,
        description=f"at most {max_failed_rate:.0%} of the logged request IDs failed (FPWH_MAX_FAILED_RATE)",
    )
    def failed_fetch_rate_below_threshold(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        ids, outcomes = _logged_and_outcomes(context, warehouse)
        failed = outcomes.filter(pl.col("outcome") == "failed").height if outcomes.height else 0
        rate = failed / len(ids) if ids else 0.0
        return dg.AssetCheckResult(
            passed=rate <= max_failed_rate,
            metadata={"failed": failed, "distinct_logged_ids": len(ids), "failed_rate": round(rate, 4)},
        )

    return [every_logged_request_id_is_accounted_for, failed_fetch_rate_below_threshold]
