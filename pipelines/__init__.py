"""Dagster code location and the I/O edges of fp-events-warehouse (API client, log files, storage)."""
