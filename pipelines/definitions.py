"""The Dagster code location: every asset, check, job, schedule, sensor and resource of the warehouse."""

from __future__ import annotations

from dagster import Definitions, EnvVar

from pipelines.assets.analytics import analyst_views, dashboard, dashboard_feeds
from pipelines.assets.ingest import app_log_occurrences, raw_events, request_ids_to_fetch_queue
from pipelines.assets.silver import silver_tables
from pipelines.assets.warehouse import duckdb_warehouse
from pipelines.checks import all_checks
from pipelines.config import PipelineEnv
from pipelines.resources import AppLogsResource, FingerprintApiResource, WarehouseResource
from pipelines.schedules import daily_job, log_file_sensor, nightly_schedule


def build_definitions(env: PipelineEnv | None = None) -> Definitions:
    env = env or PipelineEnv.from_env()
    return Definitions(
        assets=[
            app_log_occurrences,
            request_ids_to_fetch_queue,
            raw_events,
            silver_tables,
            duckdb_warehouse,
            analyst_views,
            dashboard_feeds,
            dashboard,
        ],
        asset_checks=all_checks(env.max_failed_rate),
        jobs=[daily_job],
        schedules=[nightly_schedule(env)],
        sensors=[log_file_sensor],
        resources={
            "warehouse": WarehouseResource(directory=env.warehouse_dir),
            "app_logs": AppLogsResource(glob=env.log_glob, format=env.log_format),
            "fingerprint_api": FingerprintApiResource(
                secret_api_key=EnvVar("FINGERPRINT_SECRET_API_KEY"), **PipelineEnv.api_settings()
            ),
        },
    )


defs = build_definitions()
