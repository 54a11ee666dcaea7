"""The retry of earlier days' open fetches as an asset: every run finishes the incomplete days inside retention.

`failed_fetch_retry` runs in the daily job after the night's refresh (both spend the key's rate budget in the
`fingerprint_api` pool, so they take turns); see `pipelines.retry` for which days and IDs. Like the refresh, it
rebuilds the days that gained outcomes itself and records a materialization of each rebuilt partition, so the
UI's partition history shows when a past day became complete.
"""

import dagster as dg

from pipelines.api.errors import FatalApiError
from pipelines.defs.ingest.refresh import REBUILT_ASSETS
from pipelines.defs.layer import Layer, partition_day
from pipelines.resources import FingerprintApiResource, PrivacyResource, WarehouseResource
from pipelines.retry import RetryReport, retry_incomplete_days


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    @dg.asset(
        group_name="ingest",
        partitions_def=layer.partitions,
        deps=["event_refresh"],
        pool="fingerprint_api",
        kinds={"parquet"},
    )
    def failed_fetch_retry(
        context: dg.AssetExecutionContext,
        fingerprint_api: FingerprintApiResource,
        warehouse: WarehouseResource,
        privacy: PrivacyResource,
    ) -> dg.MaterializeResult:
        """Fetch again the failed and never-fetched logged request IDs of every incomplete earlier day still inside
        FINGERPRINT_RETENTION_DAYS, and republish the days that gained outcomes.

        A day published with a few failed fetches (under FPWH_MAX_FAILED_RATE) is not left so: every later run
        retries its open IDs, without being asked, until each ends `ok` or `not_found` (`day_completeness`).
        """
        night, store = partition_day(context), warehouse.store()
        try:
            with fingerprint_api.client(store.state) as client:
                report = retry_incomplete_days(night, store, client, privacy.policy(), context.log.info)
        except FatalApiError:
            context.log.error("the Server API refused the retry; every outcome fetched before is kept in bronze")
            raise
        _record_rebuilt(context, report)
        return dg.MaterializeResult(metadata=report.metadata())

    return [failed_fetch_retry]


def _record_rebuilt(context: dg.AssetExecutionContext, report: RetryReport) -> None:
    """A materialization of every partition the retry rewrote, and a warning for each day it could not."""
    for day in report.rebuilt:
        metadata = {"rebuilt_by": "failed_fetch_retry", "night": report.night.isoformat()}
        for asset in REBUILT_ASSETS:
            context.log_event(dg.AssetMaterialization(asset, partition=day.isoformat(), metadata=metadata))
    for day, why in report.not_rebuilt.items():
        context.log.warning(f"{day}: {why}")
