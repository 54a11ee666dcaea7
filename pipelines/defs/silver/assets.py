"""Silver assets: every catalog table of the day, rebuilt from bronze in one pass."""

import dagster as dg

from pipelines.defs.layer import Layer, partition_day
from pipelines.metadata import markdown_table
from pipelines.resources import PrivacyResource, WarehouseResource
from pipelines.silver import build_silver_day
from pipelines.tables import SILVER_TABLES, WAREHOUSE_TABLES


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                name,
                group_name="silver",
                deps=["raw_events"],
                partitions_def=layer.partitions,
                description=WAREHOUSE_TABLES[name].description,
                kinds={"parquet"},
            )
            for name in SILVER_TABLES
        ],
        partitions_def=layer.partitions,
    )
    def silver_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource, privacy: PrivacyResource):
        """Rebuild every silver table's rows of the day from bronze, IPs and URLs as the privacy settings say, staged
        for the day's publish.

        Refuses (and keeps the published rows) when the day's raw bodies were dropped by FPWH_RAW_RETENTION_DAYS,
        or when the day's log tables hold IPs and URLs in another privacy mode.
        """
        day = partition_day(context)
        store = warehouse.store()
        report = build_silver_day(store, day, privacy.policy())
        if report.unknown_fields:
            context.log.warning(f"fields the catalog does not know yet: {dict(report.unknown_fields)}")
        for name in SILVER_TABLES:
            metadata = {"dagster/row_count": report.rows[name]}
            if name == "events":
                preview = store.read_day("events", day).select(
                    "request_id", "visitor_id", "timestamp", "bot_result", "vpn", "ip_v4_country_code"
                )
                metadata |= {
                    "events_in": report.events_in,
                    "events_quarantined": report.events_quarantined,
                    "values_quarantined": report.values_quarantined,
                    "unknown_fields": dg.MetadataValue.json(dict(report.unknown_fields.most_common())),
                    "unknown_field_paths": len(report.unknown_fields),
                    "preview": dg.MetadataValue.md(markdown_table(preview)),
                }
            yield dg.MaterializeResult(asset_key=name, metadata=metadata)

    return [silver_tables]
