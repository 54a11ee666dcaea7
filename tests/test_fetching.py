"""Fetching into bronze: every result lands, progress is reported on a clock, a fatal error keeps what landed."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.api.client import FingerprintClient
from pipelines.api.errors import FatalApiError
from pipelines.api.settings import ClientSettings, Secret
from pipelines.fetching import fetch_into_bronze
from pipelines.storage.bronze import Bronze

DAY = date(2026, 11, 24)


def client_for(sim, tmp_path, key=None, **overrides) -> FingerprintClient:
    settings = ClientSettings(
        api_key=Secret(key or sim.api_key),
        api_url=sim.url,
        rate_limit_rps=0,
        rate_limit_dir=str(tmp_path / "rl"),
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
        **overrides,
    )
    return FingerprintClient(settings)


def test_every_result_lands_in_bronze_and_the_summary_counts_calls(simulator, tmp_path):
    sim = simulator(retention_days=None)
    ids = [rid for _, rid in sim.population.day_events(DAY)[:40]] + ["1795000000000.zzzzzz"]
    bronze = Bronze(tmp_path / "bronze")
    with client_for(sim, tmp_path) as client:
        summary = fetch_into_bronze(client, bronze, DAY, ids, log=lambda _: None, flush_rows=7)
    assert summary.done == 41 and summary.outcomes == {"ok": 40, "not_found": 1}
    assert summary.api_calls == sim.stats()["by_kind"]["event"]
    assert bronze.done_ids(DAY) == set(ids)
    assert len(list(bronze.day_dir(DAY).glob("part-*.parquet"))) >= 6  # landed in batches, not at the end


def test_progress_is_logged_on_a_clock_even_while_results_are_slow(simulator, tmp_path):
    sim = simulator(latency_ms=400, retention_days=None)
    ids = [rid for _, rid in sim.population.day_events(DAY)[:6]]
    lines: list[str] = []
    with client_for(sim, tmp_path, concurrency=1) as client:
        fetch_into_bronze(client, Bronze(tmp_path / "b"), DAY, ids, log=lines.append, progress_s=0.3)
    assert len(lines) >= 5
    assert lines[-1].startswith("fetched 6/6 events") and "/s, ETA" in lines[0]


def test_a_fatal_api_error_keeps_what_landed_before_it(simulator, tmp_path):
    sim = simulator(retention_days=None)
    ids = [rid for _, rid in sim.population.day_events(DAY)[:5]]
    bronze = Bronze(tmp_path / "bronze")
    with client_for(sim, tmp_path) as good:
        fetch_into_bronze(good, bronze, DAY, ids[:3], log=lambda _: None)
    with pytest.raises(FatalApiError), client_for(sim, tmp_path, key="wrong-key") as bad:
        fetch_into_bronze(bad, bronze, DAY, ids, log=lambda _: None)
    assert bronze.done_ids(DAY) == set(ids[:3])
