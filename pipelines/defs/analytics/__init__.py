"""Analytics layer: the analyst views run for the day, the dashboard feed tables, and the static dashboard."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.analytics import assets
from pipelines.defs.layer import Layer


def definitions(layer: Layer) -> dg.Definitions:
    return dg.Definitions(assets=assets.build(layer))
