"""Silver layer: the day's raw events flattened into the catalog's typed tables (no API call)."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.layer import Layer
from pipelines.defs.silver import assets, checks


def definitions(layer: Layer) -> dg.Definitions:
    return dg.Definitions(assets=assets.build(layer), asset_checks=checks.build(layer))
