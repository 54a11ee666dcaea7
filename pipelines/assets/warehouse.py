"""Warehouse layer: fingerprint.duckdb, a view per lake table plus the analyst views in sql/, published atomically."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from pipelines.assets.ingest import app_log_occurrences
from pipelines.partitions import daily, partition_day
from pipelines.resources import WarehouseResource
from pipelines.sql import view_files
from pipelines.storage.warehouse import connect_read_only, publish_views
from pipelines.tables import SILVER_TABLES, schemas


@asset(
    group_name="warehouse",
    partitions_def=daily,
    deps=[app_log_occurrences, *(AssetKey(name) for name in SILVER_TABLES)],
    kinds={"duckdb"},
)
def duckdb_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Publish fingerprint.duckdb: one view per lake table plus the analyst views, swapped in atomically.

    The file is rebuilt aside and renamed over the old one, so analysts' open connections never block or
    fail the night run; the day's data itself was published when its Parquet partitions were renamed.
    """
    path = publish_views(warehouse.root, schemas(), view_files())
    day = partition_day(context.partition_key)
    with connect_read_only(warehouse.root) as con:
        rows = {
            name: con.execute(f"SELECT count(*) FROM {name} WHERE day = ?", [day]).fetchall()[0][0]
            for name in schemas()
        }
    return MaterializeResult(metadata={"path": MetadataValue.path(str(path)), "rows_for_day": MetadataValue.json(rows)})
