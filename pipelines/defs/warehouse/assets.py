"""Publishing a day: every staged table of the day and its feeds become visible to analysts at once."""

from collections.abc import Iterator

import dagster as dg

from pipelines.defs.layer import Layer, partition_day
from pipelines.feeds import FEEDS, build_feeds
from pipelines.metadata import markdown_table
from pipelines.resources import WarehouseResource
from pipelines.tables import SILVER_TABLES


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    feed_specs = [
        dg.AssetSpec(
            feed.name,
            group_name="analytics",
            deps=["duckdb_warehouse"],
            partitions_def=layer.partitions,
            description=feed.description,
            kinds={"iceberg"},
        )
        for feed in FEEDS
    ]
    warehouse_spec = dg.AssetSpec(
        "duckdb_warehouse",
        group_name="warehouse",
        deps=["app_log_occurrences", *SILVER_TABLES],
        partitions_def=layer.partitions,
        description="The day's published warehouse: its tables, feeds and fingerprint.duckdb, made visible at once.",
        kinds={"iceberg", "duckdb"},
    )

    # Subsettable so that `--select 'group:silver group:warehouse'` works; the feeds are computed and published with
    # the day whatever is selected (a day is published whole), only their materializations follow the selection.
    @dg.multi_asset(specs=[warehouse_spec, *feed_specs], partitions_def=layer.partitions, can_subset=True)
    def publish_day(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
        """Commit the day's staged tables to the lake, compute its feeds (`sql/feeds`) over the warehouse as it
        will be, and publish all of them in one step: analysts see every table of the day old or every one new.

        For a local warehouse `fingerprint.duckdb` is rebuilt aside and renamed into place, so an analyst's open
        connection never blocks or fails the night run.
        """
        day = partition_day(context)
        store = warehouse.store()
        report = store.publish_day(day, derive=lambda con: build_feeds(con, day))
        rows = {table: report.rows.get(table, 0) for table in report.tables}
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        if "duckdb_warehouse" in selected:
            yield dg.MaterializeResult(
                asset_key="duckdb_warehouse",
                metadata={
                    "location": warehouse.location,
                    "publication": report.publication,
                    "publish_seconds": round(report.seconds, 3),
                    "rows_published": dg.MetadataValue.json(rows),
                },
            )
        with store.reader() as con:
            for feed in (f for f in FEEDS if f.name in selected):
                frame = con.sql(f"SELECT * FROM {feed.name} WHERE day = ?", params=[day]).pl()
                yield dg.MaterializeResult(
                    asset_key=feed.name,
                    metadata={
                        "dagster/row_count": frame.height,
                        "preview": dg.MetadataValue.md(markdown_table(frame, max_rows=10)),
                    },
                )

    return [publish_day]
