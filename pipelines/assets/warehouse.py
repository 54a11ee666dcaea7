"""Warehouse and analytics layers: fingerprint.duckdb (views over the lake) and the analyst views in sql/."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from pipelines.assets.ingest import app_log_occurrences
from pipelines.metadata import markdown_table
from pipelines.partitions import daily, partition_day
from pipelines.resources import WarehouseResource
from pipelines.sql import first_line, view_files
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


@asset(group_name="analytics", partitions_def=daily, deps=[duckdb_warehouse], kinds={"duckdb"})
def analyst_views(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Run every analyst view in sql/views for the day: a broken view fails here, not in a dashboard."""
    day = partition_day(context.partition_key)
    metadata: dict[str, object] = {}
    with connect_read_only(warehouse.root) as con:
        for path in view_files():
            name = path.stem
            preview = con.sql(f"SELECT * FROM {name} WHERE day = ? LIMIT 5", params=[day]).pl()
            count = con.execute(f"SELECT count(*) FROM {name} WHERE day = ?", [day]).fetchall()[0][0]
            metadata[f"{name}_rows"] = count
            metadata[f"{name}_preview"] = MetadataValue.md(f"{first_line(path)}\n\n{markdown_table(preview)}")
    return MaterializeResult(metadata=metadata)
