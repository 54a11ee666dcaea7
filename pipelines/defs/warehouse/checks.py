"""The published day's completeness, with the numbers: is every logged request ID fetched to a final outcome?

A day may be published with a few failed fetches (under FPWH_MAX_FAILED_RATE, the blocking check on `raw_events`);
it must not look done. This WARN check reads the same `day_completeness` view analysts query, so the check and the
table never disagree, and later runs retry the open IDs (`failed_fetch_retry`) until it passes.
"""

import dagster as dg

from pipelines.defs.layer import Layer, partition_day
from pipelines.resources import WarehouseResource

COLUMNS = ("logged_ids", "ok", "not_found", "failed", "pending", "complete")
DAY_COMPLETENESS = f"SELECT {', '.join(COLUMNS)} FROM day_completeness WHERE day = ?"


def build(layer: Layer) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset="duckdb_warehouse",
        description="every logged request ID of the published day ended ok or not_found (view day_completeness)",
    )
    def day_is_complete(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        day = partition_day(context)
        with warehouse.store().reader() as con:
            row = con.execute(DAY_COMPLETENESS, [day]).fetchone()
        numbers = dict(zip(COLUMNS, row, strict=True)) if row else dict.fromkeys(COLUMNS[:-1], 0)
        complete = bool(numbers.pop("complete", True))
        return dg.AssetCheckResult(
            passed=complete,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**{name: int(value or 0) for name, value in numbers.items()}, "complete": complete},
        )

    return [day_is_complete]
