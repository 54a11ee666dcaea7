"""Analytics assets: every analyst view run for the day, and the static dashboard (the feeds are published with the
day, see `pipelines.defs.warehouse`)."""

import dagster as dg

from pipelines.dashboard import write_dashboard
from pipelines.defs.layer import Layer, partition_day
from pipelines.feeds import FEEDS
from pipelines.metadata import markdown_table
from pipelines.resources import WarehouseResource
from pipelines.sql import first_line, view_files


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="analytics", partitions_def=layer.partitions, deps=["duckdb_warehouse"], kinds={"duckdb"})
    def analyst_views(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Run every analyst view in sql/views for the day: a broken view fails here, not in a dashboard.

        A view without a `day` column (e.g. `visitor_profile`, which spans every day) is run whole.
        """
        day = partition_day(context)
        metadata: dict[str, object] = {}
        with warehouse.store().reader() as con:
            for path in view_files():
                name = path.stem
                columns = {row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()}
                where, params = ("WHERE day = ?", [day]) if "day" in columns else ("", [])
                preview = con.sql(f"SELECT * FROM {name} {where} LIMIT 5", params=params).pl()
                count = con.execute(f"SELECT count(*) FROM {name} {where}", params).fetchall()[0][0]
                metadata[f"{name}_rows"] = count
                metadata[f"{name}_preview"] = dg.MetadataValue.md(f"{first_line(path)}\n\n{markdown_table(preview)}")
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        group_name="analytics",
        partitions_def=layer.partitions,
        deps=[*(feed.name for feed in FEEDS), "event_refresh"],
        kinds={"html"},
    )
    def dashboard(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Render `<warehouse>/dashboard/index.html` from the feed tables: a static page, no server, no CDN.

        It shows the most recent days of every feed, whatever partition triggered it, so a backfill of an old
        day refreshes that day's numbers without turning the page back in time, and it is drawn after the
        night's refresh, so the past days that refresh rebuilt show their new numbers too.
        """
        path, summary = write_dashboard(warehouse.store())
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(path), **summary})

    return [analyst_views, dashboard]
