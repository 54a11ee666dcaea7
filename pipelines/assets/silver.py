"""Silver layer: the day's raw events flattened into the catalog's typed tables (no API call)."""

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from pipelines.assets.ingest import raw_events
from pipelines.metadata import markdown_table
from pipelines.partitions import daily, partition_day
from pipelines.resources import WarehouseResource
from pipelines.silver import build_silver_day
from pipelines.storage.lake import read_table
from pipelines.tables import SILVER_TABLES, WAREHOUSE_TABLES


@multi_asset(
    specs=[
        AssetSpec(
            name,
            group_name="silver",
            deps=[raw_events],
            partitions_def=daily,
            description=WAREHOUSE_TABLES[name].description,
            kinds={"parquet"},
        )
        for name in SILVER_TABLES
    ],
    partitions_def=daily,
)
def silver_tables(context: AssetExecutionContext, warehouse: WarehouseResource):
    """Rebuild every silver table's partition of the day from bronze."""
    day = partition_day(context.partition_key)
    report = build_silver_day(warehouse.bronze(), warehouse.lake, day)
    if report.unknown_fields:
        context.log.warning(f"fields the catalog does not know yet: {dict(report.unknown_fields)}")
    for name in SILVER_TABLES:
        metadata = {"dagster/row_count": report.rows[name]}
        if name == "events":
            preview = read_table(warehouse.lake, "events", [day]).select(
                "request_id", "visitor_id", "timestamp", "bot_result", "vpn", "ip_v4_country_code"
            )
            metadata |= {
                "events_in": report.events_in,
                "events_quarantined": report.events_quarantined,
                "values_quarantined": report.values_quarantined,
                "unknown_fields": MetadataValue.json(dict(report.unknown_fields.most_common())),
                "unknown_field_paths": len(report.unknown_fields),
                "preview": MetadataValue.md(markdown_table(preview)),
            }
        yield MaterializeResult(asset_key=name, metadata=metadata)
