"""Data contracts on the logs and the fetch: the day's logs hold request IDs and few unusable lines (WARN), every
logged ID has an outcome, and few enough failed (blocking).

The failed-fetch rate is blocking: when too many fetches failed (a bad key, an outage), the day's tables
are not rebuilt from a half-fetched bronze and the previous publication stays. The log checks only warn: a quiet
day is possible, but it must be seen, with the numbers that tell a quiet day from a wrong glob or format.
"""

import dagster as dg
import polars as pl

from pipelines.defs.layer import Layer, partition_day
from pipelines.log_days import DayLogs
from pipelines.logs import request_ids_to_fetch
from pipelines.resources import WarehouseResource

RAW_EVENTS = dg.AssetKey("raw_events")
APP_LOG_OCCURRENCES = dg.AssetKey("app_log_occurrences")
HAS_IDS, FEW_REJECTS = "day_has_logged_request_ids", "rejected_log_lines_below_threshold"
# Lines that are no attempt at a request ID (ordinary log lines), or still an occurrence (bad_timestamp).
_NOT_UNUSABLE = frozenset({"no_request_id", "bad_timestamp"})


def log_check_specs(max_rejected_share: float) -> list[dg.AssetCheckSpec]:
    """The WARN checks `app_log_occurrences` evaluates itself, from the numbers only its read has."""
    return [
        dg.AssetCheckSpec(
            HAS_IDS, asset=APP_LOG_OCCURRENCES, description="the day's logs hold at least one request ID"
        ),
        dg.AssetCheckSpec(
            FEW_REJECTS,
            asset=APP_LOG_OCCURRENCES,
            description=f"at most {max_rejected_share:.0%} of the lines carrying a request ID are unusable "
            "(FPWH_MAX_REJECTED_SHARE)",
        ),
    ]


def log_check_results(logs: DayLogs, distinct_ids: int, max_rejected_share: float) -> list[dg.AssetCheckResult]:
    result = logs.result
    files = {
        "files_matched": len(logs.files_matched),
        "files_read": len(result.files),
        "files_without_request_ids": len(logs.files_without_ids),
        "lines_read": result.lines_read,
    }
    unusable = sum(n for reason, n in result.reject_counts.items() if reason not in _NOT_UNUSABLE)
    share = unusable / (unusable + logs.occurrences_read) if unusable else 0.0
    warn = dg.AssetCheckSeverity.WARN
    return [
        dg.AssetCheckResult(
            check_name=HAS_IDS,
            passed=distinct_ids > 0,
            severity=warn,
            metadata={"distinct_request_ids": distinct_ids, "occurrences": result.occurrences.height, **files},
        ),
        dg.AssetCheckResult(
            check_name=FEW_REJECTS,
            passed=share <= max_rejected_share,
            severity=warn,
            metadata={
                "unusable_lines": unusable,
                "occurrences_in_files_read": logs.occurrences_read,
                "unusable_share": round(share, 4),
                "rejected_lines": dg.MetadataValue.json(dict(result.reject_counts)),
                **files,
            },
        ),
    ]


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
