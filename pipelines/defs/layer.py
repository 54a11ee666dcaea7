"""What every layer's definitions are built from: the settings and the daily partitions they imply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg

from pipelines.settings import Settings


@dataclass(frozen=True)
class Layer:
    """The settings and the daily partitions (keyed by the application log's UTC day) shared by every asset."""

    settings: Settings
    partitions: dg.DailyPartitionsDefinition

    @classmethod
    def from_settings(cls, settings: Settings) -> Layer:
        start = settings.schedule.start_date
        return cls(settings, dg.DailyPartitionsDefinition(start_date=start, timezone="UTC"))


def partition_day(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> date:
    """The UTC day a partitioned asset or check runs for."""
    return date.fromisoformat(context.partition_key)
