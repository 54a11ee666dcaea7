"""The published warehouse file: views over the lake's current snapshot plus the analyst views."""

import dagster as dg

from pipelines.defs.layer import Layer, partition_day
from pipelines.resources import WarehouseResource
from pipelines.sql import view_files
from pipelines.storage.warehouse import connect_read_only, publish_views
from pipelines.tables import SILVER_TABLES, schemas


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    @dg.asset(
        group_name="warehouse",
        partitions_def=layer.partitions,
        deps=["app_log_occurrences", *SILVER_TABLES],
        kinds={"duckdb"},
    )
    def duckdb_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Publish fingerprint.duckdb: one view per lake table plus the analyst views, swapped in atomically.

        The file is rebuilt aside and renamed over the old one, so analysts' open connections never block or
        fail the night run; the day's data itself was published when its Parquet partitions were renamed.
        """
        path = publish_views(warehouse.root, schemas(), view_files())
        day = partition_day(context)
        with connect_read_only(warehouse.root) as con:
            rows = {
                name: con.execute(f"SELECT count(*) FROM {name} WHERE day = ?", [day]).fetchall()[0][0]
                for name in schemas()
            }
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(path)), "rows_for_day": dg.MetadataValue.json(rows)}
        )

    return [duckdb_warehouse]
