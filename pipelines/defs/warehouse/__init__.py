"""Warehouse layer: fingerprint.duckdb, a view per lake table plus the analyst views in sql/, published atomically."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.layer import Layer
from pipelines.defs.warehouse import assets, checks


def definitions(layer: Layer) -> dg.Definitions:
    return dg.Definitions(assets=assets.build(layer), asset_checks=checks.build(layer))
