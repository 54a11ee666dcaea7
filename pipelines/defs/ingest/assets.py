"""Ingest assets: log occurrences (+ sealed events) → pushed webhooks landed, fetch queue → raw events in bronze."""

import dagster as dg
import polars as pl

from pipelines import privacy_modes
from pipelines.api.errors import FatalApiError
from pipelines.defs.ingest.checks import log_check_results, log_check_specs
from pipelines.defs.layer import Layer, partition_day
from pipelines.fetch import DayFetch
from pipelines.log_days import read_day
from pipelines.logs import request_ids_to_fetch
from pipelines.metadata import counts, markdown_table
from pipelines.push import arrivals, land_sealed, land_webhooks
from pipelines.resources import AppLogsResource, FingerprintApiResource, PrivacyResource, WarehouseResource
from pipelines.tables import APP_REQUESTS_SCHEMA, APP_TABLES, WAREHOUSE_TABLES
from transforms.applog import REJECT_SCHEMA
from transforms.privacy import protect
from transforms.request_ids import DEFAULT_TEXT_PATTERN


def build(layer: Layer) -> list[dg.AssetsDefinition]:
    max_rejected_share = layer.settings.logs.max_rejected_share

    @dg.asset(
        group_name="ingest",
        partitions_def=layer.partitions,
        kinds={"parquet"},
        check_specs=log_check_specs(max_rejected_share),
    )
    def app_log_occurrences(
        context: dg.AssetExecutionContext,
        app_logs: AppLogsResource,
        warehouse: WarehouseResource,
        privacy: PrivacyResource,
    ) -> dg.MaterializeResult:
        """Every request-ID occurrence of the day in the application logs → lake table `app_requests`.

        Only the files that hold the day (or are not indexed yet) are read (`pipelines.log_days`). Bad lines are
        counted by reason and kept in `log_rejects`; a glob that matches nothing is an error, and a day without
        any request ID or with many unusable lines is a WARN check, because a night that silently reads no log
        looks exactly like a night without traffic. Events opened from sealed client results on the lines land in
        bronze here (`method="sealed"`, no API call). IP addresses and URLs in the lines' context and excerpts are
        stored as FPWH_IP_PRIVACY / FPWH_URL_PRIVACY say; this is the first writer of a day's run, so it may switch
        the day to new settings (the silver tables follow).
        """
        day = partition_day(context)
        store = warehouse.store()
        logs = read_day(app_logs.glob, app_logs.options(), day, store.state)
        if not logs.files_matched:
            raise FileNotFoundError(f"FPWH_LOG_GLOB={app_logs.glob!r} matches no file: point it at your logs")
        result, policy = logs.result, privacy.policy()
        # erased events stay erased: their log lines are left out, so nothing fetches or unseals them again, and no
        # rejected line quoting one is kept (as the erasure removed it)
        quoted = result.rejects["excerpt"].str.extract_all(DEFAULT_TEXT_PATTERN).explode().drop_nulls().unique()
        erased = store.state.erased_among([*request_ids_to_fetch(result.occurrences), *quoted.to_list()])
        listed = pl.Series(sorted(erased), dtype=pl.String).implode()
        kept = ~pl.col("request_id").is_in(listed)
        found, sealed = result.occurrences.filter(kept), result.sealed.filter(kept)
        unquoted = ~pl.col("excerpt").str.extract_all(DEFAULT_TEXT_PATTERN).list.set_intersection(listed).list.len().gt(
            0
        )
        occurrences = found.select(APP_REQUESTS_SCHEMA.names())
        occurrences = protect(occurrences, WAREHOUSE_TABLES["app_requests"].privacy, policy)
        rejects = result.rejects.filter(unquoted.fill_null(True)).select(REJECT_SCHEMA.names())
        rejects = protect(rejects, WAREHOUSE_TABLES["log_rejects"].privacy, policy)
        try:
            privacy_modes.check(store, day, APP_TABLES, policy)
        except privacy_modes.PrivacyModeMismatch as mismatch:
            context.log.warning(
                f"switching the day to new privacy settings; until its silver tables follow: {mismatch}"
            )
        store.stage("app_requests", day, occurrences)
        store.stage("log_rejects", day, rejects)
        privacy_modes.record(store, day, APP_TABLES, policy)
        sealed_landed = land_sealed(store.bronze, day, sealed)
        ids = request_ids_to_fetch(found)
        return dg.MaterializeResult(
            metadata={
                "occurrences": occurrences.height,
                "erased_request_ids_skipped": len(erased),
                "distinct_request_ids": len(ids),
                "sealed_results": sealed.height,
                "sealed_events_landed": sealed_landed,
                "files_matched": len(logs.files_matched),
                "files_read": len(result.files),
                "files_without_request_ids": len(logs.files_without_ids),
                "lines_read": result.lines_read,
                "rejected_lines": dg.MetadataValue.json(dict(result.reject_counts)),
                "aliases_skipped": dg.MetadataValue.json([list(pair) for pair in result.aliases_skipped]),
                "preview": dg.MetadataValue.md(markdown_table(occurrences.head(5))),
            },
            check_results=log_check_results(logs, len(ids), max_rejected_share),
        )

    @dg.asset(group_name="ingest", partitions_def=layer.partitions, deps=[app_log_occurrences], kinds={"parquet"})
    def request_ids_to_fetch_queue(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """The day's distinct logged request IDs that have no final (`ok`/`not_found`) outcome in bronze yet.

        Webhooks acknowledged by a receiver that has not landed them (stopped, killed) are landed first, so
        an event pushed to us is never fetched.
        """
        day = partition_day(context)
        store = warehouse.store()
        landed = land_webhooks(store.state, store.bronze, log=context.log.warning)
        logged = store.read_day("app_requests", day)
        ids = request_ids_to_fetch(logged) if logged.height else []
        done = store.bronze.done_ids(day)
        queue = [i for i in ids if i not in done]
        store.state.set_fetch_queue(day, queue)
        return dg.MaterializeResult(
            metadata={
                "logged_ids": len(ids),
                "already_fetched": len(ids) - len(queue),
                "to_fetch": len(queue),
                "webhook_events_landed": landed.events,
                "webhook_segments_live": landed.live_segments,
            }
        )

    @dg.asset(
        group_name="ingest",
        partitions_def=layer.partitions,
        deps=[request_ids_to_fetch_queue],
        pool="fingerprint_api",
        kinds={"parquet"},
    )
    def raw_events(
        context: dg.AssetExecutionContext, fingerprint_api: FingerprintApiResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Fetch every queued request ID from the Server API and land each outcome, raw body included, in bronze.

        Results land in small batches as they arrive, so a run killed mid-fetch loses only the batch in
        flight, and a re-run fetches only what has no final outcome yet (0 calls for a finished day).
        `FPWH_FETCH_STRATEGY` decides how: one call per ID, or pages of the events search (`pipelines.fetch`).
        """
        day = partition_day(context)
        store = warehouse.store()
        state, bronze = store.state, store.bronze
        try:
            with fingerprint_api.client(state) as client:
                report = DayFetch(day, client, bronze, state, context.log.info).run(state.fetch_queue(day))
        except FatalApiError:
            context.log.error("the Server API refused the run; every result fetched before is kept in bronze")
            raise
        bronze.compact(day)
        progress = report.progress
        logged = store.read_day("app_requests", day)
        ids = request_ids_to_fetch(logged) if logged.height else []
        outcomes = bronze.outcomes(day)  # bronze is read twice per run: before the fetch (DayFetch) and here
        arrived = arrivals(outcomes, ids)
        return dg.MaterializeResult(
            metadata={
                "logged_events_by_arrival": dg.MetadataValue.json(arrived),
                "api_calls_per_logged_event": round(report.api_calls / len(ids), 4) if ids else 0.0,
                "requested": progress.to_do,
                "strategy": report.strategy,
                "fetched_by": report.method,
                "api_calls": report.api_calls,
                "api_calls_per_event": report.calls_per_event,
                "search_pages": report.search_pages,
                "search_events_landed": report.search_events_landed,
                "search_events_without_id": report.search_events_unkeyed,
                "search_stopped": report.search_stopped or "not_used",
                "by_id_calls": report.by_id_calls,
                "still_to_do": progress.logged_left,
                "outcomes_this_run": dg.MetadataValue.json(dict(progress.outcomes)),
                "outcomes_total": dg.MetadataValue.json(counts(outcomes["outcome"].to_list())),
                "failed_codes": dg.MetadataValue.json(dict(progress.failed_codes)),
            }
        )

    return [app_log_occurrences, request_ids_to_fetch_queue, raw_events]
