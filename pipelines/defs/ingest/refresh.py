"""The nightly refresh as an asset: the trailing days re-read, what changed upstream landed and rebuilt.

`event_refresh` is a partitioned asset of the ingest group, in the daily job after the day's own fetch (both spend
the key's rate budget, so they take turns): the run of day D re-reads the days before D (`pipelines.refresh`). It
rebuilds the days that changed itself (silver, views, feeds, through `rebuild_day`) rather than requesting runs of
them, so the warehouse has followed by the end of the night's run, and it records a materialization of each rebuilt
table, view and feed partition, so the UI's partition history shows when and why a past day changed. The
`dashboard` asset depends on it and is drawn after. It runs in the `fingerprint_api` pool like `raw_events`; like
every asset below `raw_events`, the blocking check on the day's failed fetches holds it back (a night whose own
fetch mostly failed would not refresh better).
"""

import dagster as dg

from pipelines.api.errors import FatalApiError
from pipelines.defs.layer import Layer, partition_day
from pipelines.feeds import FEEDS
from pipelines.refresh import RefreshReport, refresh_window
from pipelines.resources import FingerprintApiResource, PrivacyResource, WarehouseResource
from pipelines.tables import SILVER_TABLES

REBUILT_ASSETS: tuple[str, ...] = (*SILVER_TABLES, "duckdb_warehouse", *(feed.name for feed in FEEDS))


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    @dg.asset(
        group_name="ingest",
        partitions_def=layer.partitions,
        deps=["raw_events"],
        pool="fingerprint_api",
        kinds={"parquet"},
    )
    def event_refresh(
        context: dg.AssetExecutionContext,
        fingerprint_api: FingerprintApiResource,
        warehouse: WarehouseResource,
        privacy: PrivacyResource,
    ) -> dg.MaterializeResult:
        """Re-read the events of the FPWH_REFRESH_DAYS days before this one; land and rebuild what changed upstream.

        Customers update an event's linked ID, tag and suspect flag after the fact, and visitor deletions remove
        events: the search re-reads a day for about one call per page of events, a changed event lands as a new
        version in bronze (see the `event_versions` table) and its day is rebuilt; an event deleted upstream is
        recorded in the run state for erasure. A re-run of the same night refreshes nothing twice.
        """
        night, store = partition_day(context), warehouse.store()
        try:
            with fingerprint_api.client(store.state) as client:
                report = refresh_window(night, store, client, privacy.policy(), context.log.info)
        except FatalApiError:
            context.log.error("the Server API refused the refresh; every changed event landed before is kept")
            raise
        _record_rebuilt(context, report)
        return dg.MaterializeResult(metadata=report.metadata())

    return [event_refresh]


def _record_rebuilt(context: dg.AssetExecutionContext, report: RefreshReport) -> None:
    """A materialization of every partition the refresh rewrote, and a warning for each day it could not."""
    changed_by_day = {d.day: len(d.changed) for d in report.days}
    for day in report.rebuilt:
        metadata = {
            "rebuilt_by": "event_refresh",
            "night": report.night.isoformat(),
            "events_changed": changed_by_day[day],
        }
        for asset in REBUILT_ASSETS:
            context.log_event(dg.AssetMaterialization(asset, partition=day.isoformat(), metadata=metadata))
    for day, why in {**report.not_rebuilt, **report.unreadable}.items():
        context.log.warning(f"{day}: {why}")
