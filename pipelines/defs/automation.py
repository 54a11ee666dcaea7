"""What starts runs: the daily job, its nightly schedule, and the sensor that notices new or grown log files."""

import json
import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from pipelines.defs.layer import Layer
from pipelines.logs import find_log_files, read_logs
from pipelines.resources import AppLogsResource

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
    def log_file_sensor(context: dg.SensorEvaluationContext, app_logs: AppLogsResource):
        """Compare every log file's size and mtime with the cursor; re-read only the files that changed."""
        seen: dict[str, list[float]] = json.loads(context.cursor) if context.cursor else {}
        current = {}
        for path in find_log_files(app_logs.glob):
            stat = os.stat(path)
            current[path] = [stat.st_size, stat.st_mtime]
        changed = [path for path, stamp in current.items() if seen.get(path) != stamp]
        if not changed:
            return dg.SkipReason("no new or grown log file")
        result = read_logs(changed, app_logs.options())
        valid = set(layer.partitions.get_partition_keys())
        days = sorted({d.isoformat() for d in result.occurrences["log_day"].drop_nulls().to_list()} & valid)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"logs-{day}-{stamp}", partition_key=day) for day in days],
            cursor=json.dumps(current),
        )

    return dg.Definitions(jobs=[daily_job], schedules=[nightly], sensors=[log_file_sensor])
