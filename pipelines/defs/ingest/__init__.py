"""Ingest layer: the day's log occurrences, the request IDs still to fetch, the raw events (bronze), the refresh of
the days before, the retry of earlier days' failed fetches, and the raw-body retention."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.ingest import assets, checks, refresh, retention, retry
from pipelines.defs.layer import Layer


def definitions(layer: Layer) -> dg.Definitions:
    built = [*assets.build(layer), *refresh.build(layer), *retention.build(layer), *retry.build(layer)]
    return dg.Definitions(assets=built, asset_checks=checks.build(layer))
