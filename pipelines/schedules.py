"""The nightly schedule and the log-file sensor that request the daily partitions."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)

from pipelines.config import PipelineEnv
from pipelines.logs import read_logs
from pipelines.partitions import daily
from pipelines.resources import AppLogsResource

daily_job = define_asset_job("daily_warehouse", selection=AssetSelection.all())


def nightly_schedule(env: PipelineEnv):
    @schedule(
        cron_schedule=env.schedule_cron,
        execution_timezone=env.schedule_timezone,
        job=daily_job,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Materialize the last complete UTC day (FPWH_SCHEDULE_CRON in FPWH_SCHEDULE_TIMEZONE).",
    )
    def nightly(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time.astimezone(UTC)
        day = (tick - timedelta(days=1)).date().isoformat()
        return RunRequest(run_key=f"nightly-{day}", partition_key=day)

    return nightly


@sensor(job=daily_job, minimum_interval_seconds=60, description="New or grown log files request their days.")
def log_file_sensor(context: SensorEvaluationContext, app_logs: AppLogsResource):
    """Compare every log file's size and mtime with the cursor; re-read only the files that changed."""
    seen: dict[str, list[float]] = json.loads(context.cursor) if context.cursor else {}
    current = {str(p): [p.stat().st_size, p.stat().st_mtime] for p in _files(app_logs.glob)}
    changed = [path for path, stamp in current.items() if seen.get(path) != stamp]
    if not changed:
        return SkipReason("no new or grown log file")
    result = read_logs(changed, app_logs.options())
    valid = set(daily.get_partition_keys())
    days = sorted({d.isoformat() for d in result.occurrences["log_day"].drop_nulls().to_list()} & valid)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return SensorResult(
        run_requests=[RunRequest(run_key=f"logs-{day}-{stamp}", partition_key=day) for day in days],
        cursor=json.dumps(current),
    )


def _files(glob: str) -> list[Path]:
    base = Path(glob)
    anchor = Path(base.anchor) if base.is_absolute() else Path()
    pattern = str(base.relative_to(anchor)) if base.is_absolute() else glob
    return sorted(p for p in anchor.glob(pattern) if p.is_file())
