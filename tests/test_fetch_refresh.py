"""The refresh of one day (`pipelines.fetch.refresh`): what changed upstream is found and landed, at page cost."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.api.client import FingerprintClient
from pipelines.api.ratelimit import Unlimited
from pipelines.api.secret import Secret
from pipelines.fetch import DayFetch
from pipelines.fetch.refresh import DayRefresh, DayRefreshReport
from pipelines.settings import ApiSettings, WarehouseSettings
from pipelines.storage.bronze import Bronze
from pipelines.tables import open_warehouse

DAY = datetime.now(UTC).date() - timedelta(days=3)


def client_for(sim, version: int = 3, **options) -> FingerprintClient:
    settings = ApiSettings(api_url=sim.url, rate_limit_rps=0, api_version=version, **options)
    return FingerprintClient(settings, Secret(sim.api_key), Unlimited())


def fetched_day(sim, tmp_path: Path, ids: list[str], version: int = 3, day: date = DAY) -> Bronze:
    """`ids` of `day` fetched into a fresh bronze, as the night's run does."""
    store = open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse")))
    with client_for(sim, version) as client:
        DayFetch(day, client, store.bronze, store.state, lambda _: None).run(ids)
    return store.bronze


def refresh(sim, bronze: Bronze, version: int = 3, day: date = DAY, **options) -> DayRefreshReport:
    with client_for(sim, version, **options) as client:
        return DayRefresh(day, client, bronze, lambda _: None).run()


def untimed(sim, ids: list[str]) -> list[str]:
    """The events whose v3 body has no identification timestamp (identification failed or not in the plan)."""
    return [
        rid
        for rid in ids
        if {"identification"} & (sim.population.facts(rid).failed_products | sim.population.facts(rid).absent_products)
    ]


def calls(sim) -> int:
    stats = sim.stats()["by_kind"]
    return stats["event"] + stats["search"]


def test_a_day_whose_events_did_not_change_costs_its_pages_and_lands_nothing(simulator, tmp_path):
    sim = simulator(events_per_day=1000)
    ids = [rid for _, rid in sim.population.day_events(DAY)]
    bronze = fetched_day(sim, tmp_path, ids)
    records = bronze.all_fetches(DAY).height
    before = calls(sim)

    report = refresh(sim, bronze)

    assert report.checked == len(ids) and not report.changed and not report.deleted and report.complete
    assert calls(sim) - before == report.calls
    assert report.search_pages <= math.ceil(len(ids) / 200) + 1
    assert report.by_id_calls == len(untimed(sim, ids))  # by ID: only what the search cannot place in time
    assert report.calls / report.checked < 0.02
    assert bronze.all_fetches(DAY).height == records


def test_updated_events_land_as_new_versions_with_what_changed(simulator, tmp_path, update_event):
    sim = simulator(events_per_day=600)
    ids = [rid for _, rid in sim.population.day_events(DAY)][::3]
    bronze = fetched_day(sim, tmp_path, ids)
    suspect, relinked, retagged = ids[5], ids[50], ids[-2]
    update_event(sim, suspect, {"suspect": True})
    update_event(sim, relinked, {"linkedId": "acct-77", "suspect": False})
    update_event(sim, retagged, {"tag": {"case": "chargeback-12"}})

    report = refresh(sim, bronze, search_page_size=7)  # many pages: their edges must not lose an event

    assert report.changed == {suspect: ["suspect"], relinked: ["linked_id", "suspect"], retagged: ["tag"]}
    latest = pl.concat(bronze.ok_bodies(DAY)).filter(pl.col("request_id").is_in(list(report.changed)))
    assert set(latest["method"]) <= {"search", "by_id"} and latest.height == 3
    versions = pl.concat(bronze.ok_versions(DAY))
    assert versions.height == len(set(ids)) + 3
    assert refresh(sim, bronze).changed == {}  # the new versions are now what bronze holds


def test_v4_refreshes_through_its_own_search_at_100_events_a_page(simulator, tmp_path, update_event):
    sim = simulator(events_per_day=500)
    ids = [rid for _, rid in sim.population.day_events(DAY)]
    bronze = fetched_day(sim, tmp_path, ids, version=4)
    update_event(sim, ids[100], {"tags": {"reviewed": True}, "suspect": True}, version=4)

    report = refresh(sim, bronze, version=4)

    assert report.changed == {ids[100]: ["tag", "suspect"]}
    assert report.search_pages <= math.ceil(len(ids) / 100) + 1


def test_an_event_deleted_upstream_is_reported_not_landed(simulator, tmp_path, delete_upstream):
    sim = simulator(events_per_day=300)
    ids = [rid for _, rid in sim.population.day_events(DAY)][:40]
    bronze = fetched_day(sim, tmp_path, ids)
    records = bronze.all_fetches(DAY).height
    delete_upstream(sim, [ids[7], ids[30]])

    report = refresh(sim, bronze)

    assert sorted(report.deleted) == sorted([ids[7], ids[30]]) and report.complete
    assert bronze.all_fetches(DAY).height == records and bronze.done_ids(DAY) >= {ids[7], ids[30]}


def test_strategy_by_id_re_reads_every_event_by_id(simulator, tmp_path, update_event):
    sim = simulator(events_per_day=300)
    ids = [rid for _, rid in sim.population.day_events(DAY)][:25]
    bronze = fetched_day(sim, tmp_path, ids)
    update_event(sim, ids[3], {"suspect": True})

    report = refresh(sim, bronze, fetch_strategy="by_id")

    assert (report.search_pages, report.by_id_calls) == (0, 25) and list(report.changed) == [ids[3]]


def test_a_few_events_spread_over_a_day_are_re_read_by_id_when_that_is_cheaper(simulator, tmp_path):
    sim = simulator(events_per_day=2000)
    ids = [rid for _, rid in sim.population.day_events(DAY)][::400]  # 5 events, hours apart

    report = refresh(sim, fetched_day(sim, tmp_path, ids))

    assert report.calls <= len(ids) + 1  # never worse than by ID, probe page included
    assert report.search_stopped in ("cheaper_by_id", "complete")


def test_events_stored_with_another_api_version_are_left_as_they_are(simulator, tmp_path):
    sim = simulator(events_per_day=300)
    ids = [rid for _, rid in sim.population.day_events(DAY)][:10]
    bronze = fetched_day(sim, tmp_path, ids, version=3)
    before = calls(sim)

    report = refresh(sim, bronze, version=4)

    assert (report.checked, report.other_version, report.calls) == (0, 10, 0) and calls(sim) == before


def test_a_refresh_that_kept_failing_is_incomplete_so_the_next_run_reads_the_day_again(simulator, tmp_path):
    sim = simulator(events_per_day=300)
    ids = [rid for _, rid in sim.population.day_events(DAY)][:30]
    bronze = fetched_day(sim, tmp_path, ids)
    flaky = simulator(events_per_day=300, fail_5xx_rate=0.6, seed=sim.config.seed)

    report = refresh(flaky, bronze, max_attempts=1, fetch_strategy="by_id")

    assert report.failed > 0 and not report.complete and not report.changed
