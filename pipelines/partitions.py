"""Daily partitions keyed by the application log's UTC day, shared by every asset of the chain."""

from __future__ import annotations

from datetime import date

from dagster import DailyPartitionsDefinition

from pipelines.config import PipelineEnv

daily = DailyPartitionsDefinition(start_date=PipelineEnv.from_env().start_date, timezone="UTC")


def partition_day(partition_key: str) -> date:
    return date.fromisoformat(partition_key)
