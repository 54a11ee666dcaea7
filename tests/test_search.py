"""Bulk fetching through the events search: the simulator's endpoint, exact pagination, strategies, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
import requests

from pipelines.api.client import FingerprintClient
from pipelines.api.errors import FatalApiError
from pipelines.api.ratelimit import Unlimited
from pipelines.api.secret import Secret
from pipelines.fetch import DayFetch, FetchReport
from pipelines.fetch.search import pages_to_cover
from pipelines.settings import ApiSettings, Settings, SettingsError, WarehouseSettings
from pipelines.storage.bronze import Bronze
from pipelines.tables import open_warehouse
from simulator.population import day_start_ms

REPO = Path(__file__).resolve().parents[1]
DAY = datetime.now(UTC).date() - timedelta(days=2)


def client_for(sim, rps: float = 0, version: int = 3, key: str | None = None, **options) -> FingerprintClient:
    settings = ApiSettings(api_url=sim.url, rate_limit_rps=rps, api_version=version, **options)
    return FingerprintClient(settings, Secret(key or sim.api_key), Unlimited())


def run(
    sim, tmp_path: Path, todo: list[str], day: date = DAY, rps: float = 0, version: int = 3, **options
) -> tuple[FetchReport, Bronze]:
    """Fetch `todo` of `day` into bronze under `tmp_path`; `options` are ApiSettings fields (strategy, keep, ...)."""
    renamed = {"strategy": "fetch_strategy", "keep": "search_keep", "page_size": "search_page_size"}
    options = {renamed.get(k, k): v for k, v in options.items()}
    store = open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse")))
    with client_for(sim, rps, version, **options) as client:
        report = DayFetch(day, client, store.bronze, store.state, lambda _: None).run(todo)
    return report, store.bronze


def search(sim, **params) -> requests.Response:
    return requests.get(f"{sim.url}/events/search", params=params, headers={"Auth-API-Key": sim.api_key}, timeout=10)


def day_ids(sim, day: date = DAY) -> list[str]:
    return [rid for _, rid in sim.population.day_events(day)]


def unkeyed_products(sim, request_id: str) -> set[str]:
    """The products of an event that carry no request ID in a v3 search item (failed, or absent from the plan)."""
    facts = sim.population.facts(request_id)
    return set(facts.failed_products) | set(facts.absent_products)


def test_the_simulator_validates_search_parameters_like_the_api(simulator):
    sim = simulator()
    start = day_start_ms(DAY)
    for params, message in [
        ({}, "invalid limit"),
        ({"limit": 0}, "invalid limit"),
        ({"limit": "ten"}, "invalid limit"),
        ({"limit": 2**31}, "invalid limit"),  # an int32
        ({"limit": 5, "start": "yesterday"}, "invalid start time"),
        ({"limit": 5, "end": "1.5"}, "invalid end time"),
        ({"limit": 5, "reverse": "maybe"}, "invalid reverse param"),
        ({"limit": 5, "pagination_key": "abc"}, "invalid pagination key"),
    ]:
        response = search(sim, **params)
        assert response.status_code == 400
        assert response.json() == {"error": {"code": "RequestCannotBeParsed", "message": message}}
    capped = search(sim, limit=1000, start=start, end=start + 86_400_000).json()
    assert len(capped["events"]) == 200 and capped["paginationKey"].isdigit()  # no maximum in the schema: capped
    assert search(sim, limit=5).json()["events"]  # default window: the last 7 days
    assert requests.get(f"{sim.url}/events/search?limit=5", timeout=10).status_code == 403


def test_search_order_window_and_bodies_match_the_event_endpoint(simulator):
    sim = simulator()
    events = sim.population.day_events(DAY)
    (t0, _), (t5, _) = events[0], events[5]
    oldest = search(sim, limit=3, start=t0, end=t5, reverse="true").json()
    stamps = [
        e["products"]["identification"]["data"]["timestamp"]
        for e in oldest["events"]
        if "data" in e["products"]["identification"]
    ]
    assert stamps == sorted(stamps) and all(t0 < t < t5 for t in stamps)  # start and end are both exclusive
    newest = search(sim, limit=200, start=t0 - 1, end=t5 + 1).json()
    assert "paginationKey" not in newest  # present only when more events exist
    expected = [rid for ts, rid in reversed(events) if t0 - 1 < ts < t5 + 1]  # newest first by default
    assert len(newest["events"]) == len(expected) >= 6
    for event, rid in zip(newest["events"], expected, strict=True):
        by_id = requests.get(f"{sim.url}/events/{rid}", headers={"Auth-API-Key": sim.api_key}, timeout=10)
        assert orjson.dumps(event) == by_id.content  # the same bytes, so the same silver rows


def naive_pages(sim, limit: int, start: int, end: int) -> list[str]:
    """Paging the documented way, by the returned millisecond pagination key."""
    ids, key = [], None
    while True:
        params = {"limit": limit, "start": start, "end": end, "reverse": "true"}
        body = search(sim, **params, **({"pagination_key": key} if key else {})).json()
        ids += [e["products"]["identification"]["data"]["requestId"] for e in body["events"]]
        key = body.get("paginationKey")
        if key is None:
            return ids


def test_pagination_is_exact_when_events_share_the_millisecond_of_a_page_edge(simulator, tmp_path):
    sim = simulator(events_per_day=400, seed=3)
    events = sim.population.day_events(DAY)
    ties = [ts for ts, n in Counter(ts for ts, _ in events).items() if n > 1]
    assert ties  # the population has events sharing a millisecond (~3 %)
    # One event, then the tie: read 2 events a page, the first page ends on the tie's first event.
    first = next(i for i, (ts, _) in enumerate(events) if ts == ties[0])
    start, end = events[first - 1][0] - 1, ties[0] + 60_000
    window = [rid for ts, rid in events if start < ts < end]
    naive = naive_pages(sim, 2, start, end)
    assert events[first + 1][1] in window and events[first + 1][1] not in naive  # the documented key loses it
    report, bronze = run(sim, tmp_path, day_ids(sim), strategy="search", keep="logged", page_size=2)
    landed = bronze.all_fetches(DAY)
    assert landed.filter(pl.col("method") == "search")["request_id"].is_duplicated().sum() == 0
    assert set(landed["request_id"]) == set(day_ids(sim))
    assert report.saturated_ms == 0 and report.search_pages > len(events) / 2
    # events lacking both identification and botd carry no request ID: only those go by ID
    assert landed.filter(pl.col("method") == "by_id").height == report.by_id_requested <= 5


def test_keep_all_lands_every_event_of_the_day_and_ids_outside_the_window_go_by_id(simulator, tmp_path):
    sim = simulator(events_per_day=300)
    previous_day_tail = day_ids(sim, DAY - timedelta(days=1))[-2:]  # logged just after midnight, say
    unknown = f"{day_start_ms(DAY) + 1000}.zzzzzz"
    todo = [*day_ids(sim)[:5], *previous_day_tail, unknown]
    report, bronze = run(sim, tmp_path, todo, strategy="search", keep="all")
    outcomes = bronze.outcomes(DAY)
    methods = dict(zip(outcomes["request_id"], outcomes["method"], strict=True))
    assert {methods[rid] for rid in previous_day_tail} == {"by_id"}
    assert outcomes.filter(pl.col("request_id") == unknown)["outcome"].to_list() == ["not_found"]
    found_by_search = {rid for rid, m in methods.items() if m == "search"}
    assert found_by_search <= set(day_ids(sim)) and len(found_by_search) >= 290
    assert report.search_pages == 2 and report.api_calls <= 2 + 3 + 8  # 2 pages, 3 outside, 8 unkeyed at most


def test_auto_picks_search_on_a_dense_day_and_by_id_on_a_sparse_one(simulator, tmp_path):
    sim = simulator(events_per_day=2000)
    dense, _ = run(sim, tmp_path / "dense", day_ids(sim))
    # A search item whose identification and botd both failed carries no request ID: those are fetched by ID.
    unkeyed = [rid for rid in day_ids(sim) if {"identification", "botd"} <= unkeyed_products(sim, rid)]
    assert dense.method == "search+by_id" and dense.search_pages <= 12
    assert dense.search_events_unkeyed == len(unkeyed) and dense.by_id_requested == len(unkeyed)
    assert dense.api_calls == dense.search_calls + len(unkeyed) and dense.results == 2000
    assert dense.search_calls <= 12 and dense.calls_per_event <= (12 + len(unkeyed)) / 2000
    evenly = day_ids(sim)[7::97][:20]  # 20 IDs, 2 per page of 200: 10 pages beat 20 calls
    spread, _ = run(sim, tmp_path / "spread", evenly)
    assert spread.method == "search" and spread.api_calls <= 10
    busy = simulator(events_per_day=12_000)
    sparse_ids = day_ids(busy)[7::600]  # 20 IDs in 12,000 events: a page holds fewer than one
    sparse, bronze = run(busy, tmp_path / "sparse", sparse_ids)
    assert sparse.api_calls <= len(sparse_ids)  # never worse than by ID: each page returned a logged event
    assert sparse.search_stopped == "cheaper_by_id" and sparse.results == len(sparse_ids)
    assert sparse.by_id_requested == len(sparse_ids) - sparse.search_events_landed > 0
    assert set(bronze.outcomes(DAY).filter(pl.col("outcome") == "ok")["request_id"]) == set(sparse_ids)
    clustered = day_ids(sim)[500:560]  # an hour's worth, logged densely: a page or two beat 60 calls
    burst, _ = run(sim, tmp_path / "clustered", clustered)
    assert burst.method.startswith("search") and burst.api_calls < 10


def test_a_429_during_search_is_honoured_and_nothing_is_lost(simulator, tmp_path):
    # One token every 2 s, and the test takes it first: a 429 comes unless every page took the client over 2 s
    # (a loaded machine does take over 0.5 s a page, so a faster budget could see none at all).
    sim = simulator(events_per_day=600, rps_limit=0.5, rps_burst=1)
    assert search(sim, limit=1).status_code == 200
    report, bronze = run(sim, tmp_path, day_ids(sim), strategy="search", page_size=200)
    assert sim.stats()["by_status"].get("429", 0) > 0
    assert set(bronze.outcomes(DAY)["request_id"]) == set(day_ids(sim))
    assert report.search_calls > report.search_pages  # throttled pages were retried


def test_a_5xx_or_a_missing_search_endpoint_falls_back_to_by_id(simulator, tmp_path):
    sim = simulator(events_per_day=300, fail_5xx_rate=1.0)
    report, bronze = run(sim, tmp_path, day_ids(sim)[:10], max_attempts=1)
    assert report.search_stopped == "failed" and report.by_id_requested == 10
    assert set(bronze.outcomes(DAY)["outcome"]) == {"failed"}


def test_a_crash_mid_pagination_resumes_from_the_last_landed_page(simulator, tmp_path):
    sim = simulator(events_per_day=2000, latency_ms=150)
    script = (
        "import sys; from datetime import date; from pathlib import Path\n"
        "from pipelines.api.client import FingerprintClient\n"
        "from pipelines.api.ratelimit import Unlimited\n"
        "from pipelines.api.secret import Secret\n"
        "from pipelines.fetch import DayFetch\n"
        "from pipelines.settings import ApiSettings, WarehouseSettings\n"
        "from pipelines.tables import open_warehouse\n"
        "url, key, day, ids, out = sys.argv[1:]\n"
        "settings = ApiSettings(api_url=url, rate_limit_rps=0, fetch_strategy='search', search_page_size=50)\n"
        "store = open_warehouse(WarehouseSettings(directory=str(Path(out) / 'warehouse')))\n"
        "with FingerprintClient(settings, Secret(key), Unlimited()) as client:\n"
        "    DayFetch(date.fromisoformat(day), client, store.bronze, store.state, print)"
        ".run(Path(ids).read_text().split())\n"
    )
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(day_ids(sim)))
    child = subprocess.Popen(
        [sys.executable, "-c", script, sim.url, sim.api_key, DAY.isoformat(), str(ids_file), str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse"))).state
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (state.search_cursor(DAY) or {}).get("pages", 0) < 5:
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    pages_before = state.search_cursor(DAY)["pages"]
    assert 5 <= pages_before < 40  # killed mid-pagination (2000 events / 50 a page)
    calls_before = sim.stats()["by_kind"]["search"]
    _, bronze = run(sim, tmp_path, day_ids(sim), strategy="search", page_size=50)
    resumed = sim.stats()["by_kind"]["search"] - calls_before
    assert resumed <= 41 - pages_before  # the landed pages are not read again (one in flight may be)
    fetches = bronze.all_fetches(DAY)
    assert set(fetches["request_id"]) == set(day_ids(sim))
    assert fetches.filter(pl.col("outcome") == "ok")["request_id"].is_duplicated().sum() == 0
    again, _ = run(sim, tmp_path, [], strategy="search", page_size=50)
    assert again.api_calls == 0


def test_the_v4_search_has_its_limits_and_an_exact_opaque_key(simulator, tmp_path):
    sim = simulator(events_per_day=300)
    auth = {"Authorization": f"Bearer {sim.api_key}"}

    def v4(**params):
        return requests.get(f"{sim.url}/v4/events", params=params, headers=auth, timeout=10)

    assert v4(limit=101).json() == {"error": {"code": "request_cannot_be_parsed", "message": "invalid limit"}}
    assert v4(start="not a date").json()["error"]["message"] == "invalid start time"
    first = v4().json()
    assert len(first["events"]) == 10 and first["pagination_key"]  # default limit 10, newest first
    assert requests.get(f"{sim.url}/v4/events", timeout=10).status_code == 403
    start = datetime.combine(DAY, datetime.min.time(), UTC).isoformat().replace("+00:00", "Z")
    ids, key = [], None
    while True:  # the opaque key carries the last event's ID too: plain paging is exact in v4
        body = v4(
            limit=7,
            start=start,
            end=day_start_ms(DAY) + 86_400_000,
            reverse="true",
            **({"pagination_key": key} if key else {}),
        ).json()
        ids += [e["event_id"] for e in body["events"]]
        if not (key := body.get("pagination_key")):
            break
    assert ids == day_ids(sim)
    report, bronze = run(sim, tmp_path, day_ids(sim), version=4, strategy="search", page_size=2)
    fetches = bronze.all_fetches(DAY)
    assert set(fetches["method"]) == {"search"} and sorted(fetches["request_id"]) == sorted(day_ids(sim))
    assert set(fetches["api_version"]) == {4} and report.by_id_requested == 0
    rid = day_ids(sim)[3]
    body = pl.concat(bronze.ok_bodies(DAY)).filter(pl.col("request_id") == rid)["body"]
    by_id = requests.get(f"{sim.url}/v4/events/{rid}", headers=auth, timeout=10).content
    assert body.to_list() == [by_id]


def test_pages_to_cover_counts_greedy_pages():
    assert pages_to_cover([], 100, 0) == 0
    assert pages_to_cover([0, 50, 99, 101, 250], 100, 0) == 3
    assert pages_to_cover([0, 50], 100, 10) == 1


def test_an_unknown_strategy_is_refused_with_the_variable_name():
    with pytest.raises(SettingsError, match="FPWH_FETCH_STRATEGY='nope'"):
        Settings.from_env({"FPWH_FETCH_STRATEGY": "nope"}, require_key=False)


def test_the_strategy_variables_reach_the_api_settings():
    env = {"FPWH_FETCH_STRATEGY": "search", "FPWH_SEARCH_KEEP": "all", "FPWH_SEARCH_PAGE_SIZE": "50"}
    api = Settings.from_env(env, require_key=False).api
    assert (api.fetch_strategy, api.search_keep, api.search_page_size) == ("search", "all", 50)
    default = ApiSettings()
    assert (default.fetch_strategy, default.search_keep, default.search_page_size) == ("auto", "logged", None)


def test_a_403_during_search_stops_the_run_like_a_fetch_by_id(simulator, store):
    sim = simulator(api_key="the-right-key")
    with pytest.raises(FatalApiError, match="TokenNotFound"), client_for(sim, key="a-wrong-key") as client:
        DayFetch(DAY, client, store.bronze, store.state, lambda _: None).run(day_ids(sim)[:5])
    assert sim.stats()["by_kind"] == {"event": 0, "search": 1}
