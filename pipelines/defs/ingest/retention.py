"""Raw-body retention as an asset: bronze bodies older than FPWH_RAW_RETENTION_DAYS dropped, nightly."""

from datetime import timedelta

import dagster as dg

from pipelines.defs.layer import Layer, partition_day
from pipelines.resources import WarehouseResource


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    keep_days = layer.settings.warehouse.raw_retention_days

    @dg.asset(group_name="ingest", partitions_def=layer.partitions, deps=["event_refresh"], kinds={"parquet"})
    def raw_body_retention(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Drop the raw response bodies of the days FPWH_RAW_RETENTION_DAYS or more before this one (off by default).

        The fetch records stay (the days are never fetched again, `fetches` still shows them) and so do the tables
        built from them; rebuilding those tables then refuses instead of publishing empty ones. It runs after the
        night's refresh, and the settings keep the retention above the refresh window, so no refreshed day loses
        its bodies.
        """
        if keep_days is None:
            return dg.MaterializeResult(metadata={"raw_retention_days": "off", "bodies_dropped": 0})
        cutoff = partition_day(context) - timedelta(days=keep_days)
        bronze = warehouse.store().bronze
        dropped = {day: bronze.drop_bodies(day) for day in bronze.days() if day <= cutoff}
        dropped = {day: n for day, n in dropped.items() if n}
        return dg.MaterializeResult(
            metadata={
                "raw_retention_days": keep_days,
                "dropped_through": cutoff.isoformat(),
                "bodies_dropped": sum(dropped.values()),
                "days_dropped": [day.isoformat() for day in dropped],
            }
        )

    return [raw_body_retention]
