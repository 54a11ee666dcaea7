"""Fetching a day's logged request IDs into bronze: by ID, through search pages, or the cheaper of both."""

from pipelines.fetch.day import DayFetch, FetchReport, Pacing

__all__ = ["DayFetch", "FetchReport", "Pacing"]
