"""Fetching a day into bronze: every result lands in batches, progress is honest and on a clock, a fatal error
keeps what landed."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.api.errors import FatalApiError
from pipelines.fetch import DayFetch, Pacing

DAY = date(2026, 11, 24)


def fetch(client, store, ids, log=lambda _: None, **pacing):
    report = DayFetch(DAY, client, store.bronze, store.state, log, Pacing(**pacing)).run(ids)
    return report, store.bronze


def test_every_result_lands_in_bronze_and_the_report_counts_calls(simulator, api_client, store):
    sim = simulator(retention_days=None)
    ids = [rid for _, rid in sim.population.day_events(DAY)[:40]] + ["1795000000000.zzzzzz"]
    with api_client(sim, fetch_strategy="by_id") as client:
        report, bronze = fetch(client, store, ids, flush_rows=7)
    assert report.results == 41 and report.progress.outcomes == {"ok": 40, "not_found": 1}
    assert report.api_calls == sim.stats()["by_kind"]["event"] and report.method == "by_id"
    assert bronze.done_ids(DAY) == set(ids)
    assert len(bronze.parts(DAY)) >= 6  # landed in batches, not at the end


def test_progress_says_what_landed_by_which_path_what_it_cost_and_what_is_left(simulator, api_client, store):
    sim = simulator(latency_ms=400, retention_days=None)
    ids = [rid for _, rid in sim.population.day_events(DAY)[:6]]
    lines: list[str] = []
    with api_client(sim, concurrency=1, fetch_strategy="by_id") as client:
        fetch(client, store, ids, log=lines.append, progress_s=0.3)
    assert len(lines) >= 5  # logged on a clock while results were slow, not only when one arrived
    assert lines[-1].startswith("landed 6 events (0 by search, 6 by ID), 6 API calls, 0 of 6 logged IDs still to do")


def test_events_landed_through_search_pages_are_reported_as_such(simulator, api_client, store):
    sim = simulator(retention_days=None, events_per_day=400)
    ids = [rid for _, rid in sim.population.day_events(DAY)]
    lines: list[str] = []
    with api_client(sim, fetch_strategy="search") as client:
        report, _ = fetch(client, store, ids, log=lines.append)
    landed = report.search_events_landed
    assert landed > 300 and report.results == len(ids)
    calls = sim.stats()["total"]
    assert lines[-1].startswith(
        f"landed {len(ids)} events ({landed} by search, {len(ids) - landed} by ID), {calls} API calls, "
        f"0 of {len(ids)} logged IDs still to do"
    )


def test_a_fatal_api_error_keeps_what_landed_before_it(simulator, api_client, store):
    sim = simulator(retention_days=None)
    ids = [rid for _, rid in sim.population.day_events(DAY)[:5]]
    with api_client(sim, fetch_strategy="by_id") as good:
        _, bronze = fetch(good, store, ids[:3])
    with pytest.raises(FatalApiError), api_client(sim, key="wrong-key", fetch_strategy="by_id") as bad:
        fetch(bad, store, ids)
    assert bronze.done_ids(DAY) == set(ids[:3])
