"""Ingest layer: the day's log occurrences, the request IDs still to fetch, and the raw events (bronze)."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.ingest import assets, checks
from pipelines.defs.layer import Layer


def definitions(layer: Layer) -> dg.Definitions:
    return dg.Definitions(assets=assets.build(layer), asset_checks=checks.build(layer))
