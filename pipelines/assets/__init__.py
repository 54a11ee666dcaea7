"""Dagster assets, one module per layer: ingest, silver, warehouse, analytics."""
