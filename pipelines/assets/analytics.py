"""Analytics layer: the analyst views run for the day, the dashboard feed tables, and the static dashboard."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from pipelines.assets.warehouse import duckdb_warehouse
from pipelines.dashboard import write_dashboard
from pipelines.feeds import FEEDS, build_feed
from pipelines.metadata import markdown_table
from pipelines.partitions import daily, partition_day
from pipelines.resources import WarehouseResource
from pipelines.sql import first_line, view_files
from pipelines.storage.lake import write_partition
from pipelines.storage.warehouse import connect_read_only, publish_views
from pipelines.tables import schemas


@asset(group_name="analytics", partitions_def=daily, deps=[duckdb_warehouse], kinds={"duckdb"})
def analyst_views(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Run every analyst view in sql/views for the day: a broken view fails here, not in a dashboard.

    A view without a `day` column (e.g. `visitor_profile`, which spans every day) is run whole.
    """
    day = partition_day(context.partition_key)
    metadata: dict[str, object] = {}
    with connect_read_only(warehouse.root) as con:
        for path in view_files():
            name = path.stem
            columns = {row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()}
            where, params = ("WHERE day = ?", [day]) if "day" in columns else ("", [])
            preview = con.sql(f"SELECT * FROM {name} {where} LIMIT 5", params=params).pl()
            count = con.execute(f"SELECT count(*) FROM {name} {where}", params).fetchall()[0][0]
            metadata[f"{name}_rows"] = count
            metadata[f"{name}_preview"] = MetadataValue.md(f"{first_line(path)}\n\n{markdown_table(preview)}")
    return MaterializeResult(metadata=metadata)


@multi_asset(
    specs=[
        AssetSpec(
            feed.name,
            group_name="analytics",
            deps=[duckdb_warehouse],
            partitions_def=daily,
            description=feed.description,
            kinds={"parquet", "duckdb"},
        )
        for feed in FEEDS
    ],
    partitions_def=daily,
)
def dashboard_feeds(context: AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[MaterializeResult]:
    """Compute every feed of sql/feeds for the day, replace its lake partition, then re-publish the warehouse.

    The re-publish (cheap: views only) makes the feed views show the new day; it takes the publish lock.
    """
    day = partition_day(context.partition_key)
    with connect_read_only(warehouse.root) as con:
        frames = {feed.name: build_feed(con, feed, day) for feed in FEEDS}
    for name, df in frames.items():
        write_partition(warehouse.lake, name, day, df)
    publish_views(warehouse.root, schemas(), view_files())
    for name, df in frames.items():
        yield MaterializeResult(
            asset_key=name,
            metadata={"dagster/row_count": df.height, "preview": MetadataValue.md(markdown_table(df, max_rows=10))},
        )


@asset(
    group_name="analytics",
    partitions_def=daily,
    deps=[AssetKey(feed.name) for feed in FEEDS],
    kinds={"html"},
)
def dashboard(warehouse: WarehouseResource) -> MaterializeResult:
    """Render `<warehouse>/dashboard/index.html` from the feed tables: a static page, no server, no CDN.

    It shows the most recent days of every feed, whatever partition triggered it, so a backfill of an old
    day refreshes that day's numbers without turning the page back in time.
    """
    path, summary = write_dashboard(warehouse.root)
    return MaterializeResult(metadata={"path": MetadataValue.path(str(path)), **summary})
