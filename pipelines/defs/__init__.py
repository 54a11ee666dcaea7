"""The Dagster definitions, one package per layer: ingest → silver → warehouse → analytics.

Each layer's `definitions(layer)` builds its assets, checks, sensors and schedules for the daily partitions of
`Layer`, because the partitions' first day is a setting and nothing may read settings at import time.
`pipelines.definitions` merges the layers with the resources.
"""
