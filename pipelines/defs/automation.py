"""What starts runs: the daily job, its nightly schedule, and the sensor that notices new or grown log files."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from pipelines.defs.layer import Layer
from pipelines.log_days import SensorCursor, days_to_request, stamp_of
from pipelines.logs import find_log_files
from pipelines.resources import AppLogsResource, WarehouseResource

DAILY_JOB = "daily_warehouse"


def definitions(layer: Layer) -> dg.Definitions:
    schedule = layer.settings.schedule
    daily_job = dg.define_asset_job(DAILY_JOB, selection=dg.AssetSelection.all())

    # Not build_schedule_from_partitioned_job: it refuses a cron and time zone of one's own for a time-partitioned
    # job, and FPWH_SCHEDULE_CRON / FPWH_SCHEDULE_TIMEZONE are a public interface.
    @dg.schedule(
        cron_schedule=schedule.cron,
        execution_timezone=schedule.timezone,
        job=daily_job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Materialize the last complete UTC day (FPWH_SCHEDULE_CRON in FPWH_SCHEDULE_TIMEZONE).",
    )
    def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time.astimezone(UTC)
        day = (tick - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"nightly-{day}", partition_key=day)

    @dg.sensor(job=daily_job, minimum_interval_seconds=60, description="New or grown log files request their days.")
    def log_file_sensor(
        context: dg.SensorEvaluationContext, app_logs: AppLogsResource, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        """Stat the log files (no parsing: that is the asset's job) and request the days of those that changed.

        A changed file's days come from the log-file index the runs keep (`pipelines.log_days`); a file no run
        has indexed yet requests the day of its mtime, and its other days once a run has indexed it.
        """
        cursor = SensorCursor.parse(json.loads(context.cursor) if context.cursor else None)
        stamps = {path: stamp_of(path) for path in find_log_files(app_logs.glob)}
        days, cursor = days_to_request(stamps, cursor, warehouse.store().state.log_file_days())
        valid = set(layer.partitions.get_partition_keys())
        days = [day for day in days if day in valid]
        if not days:
            return dg.SensorResult(
                skip_reason="no new or grown log file holds a complete day", cursor=json.dumps(cursor.to_json())
            )
        tick = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"logs-{day}-{tick}", partition_key=day) for day in days],
            cursor=json.dumps(cursor.to_json()),
        )

    return dg.Definitions(jobs=[daily_job], schedules=[nightly], sensors=[log_file_sensor])
