"""Server API v4: the same facts fetched through v4 land in the same tables, columns and values as through v3.

Columns both versions fill must hold identical values for the same event, except where the API itself says
something different; each such column is listed below with the reason. v3-only columns are NULL in v4 rows
and v4-only columns NULL in v3 rows (the catalog declares which is which).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.api.errors import FatalApiError
from pipelines.settings import ApiSettings
from simulator.events_v4 import RAW_NAMES
from simulator.population import Population
from transforms.catalog import TABLES, table
from transforms.dialects import dialect
from transforms.flatten import flatten

DAY_MS = 86_400_000
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def event_ids(sim, n: int) -> list[str]:
    return [rid for _, rid in sim.population.day_events(YESTERDAY)[:n]]


def id_aged(ms: int) -> str:
    """A well-formed request ID whose epoch-ms prefix is `ms` old (never issued by the simulator)."""
    return f"{int(time.time() * 1000) - ms:013d}.ZZzz00"


# v4 always carries the event's `event_id` and `timestamp` (the only required fields); v3 keeps them inside
# `identification`, so an event whose identification failed has them NULL in v3 rows only.
V3_NULL_WITHOUT_IDENTIFICATION = {"timestamp", "timestamp_ms", "identification_request_id"}
# v4 omits a field that does not apply to the device's platform (schema `x-platforms`; v3 sends `false`, e.g.
# root_apps on web, the `1970-01-01` factory reset of browsers, `browserDetails` of apps, ML scores of mobile
# VPN/proxy detection, the browser-only VPN methods `os_mismatch`/`ml_prediction` and `anti_detect_browser` of
# apps), and reports v3's `tor` and `ipBlocklist` products as one `ip_blocklist` object that is
# absent when either failed: v4 rows have NULL where v3 rows have a value.
V4_NULL_WHERE_NOT_APPLICABLE = {
    *("root_apps", "emulator", "cloned_app", "jailbroken", "frida", "location_spoofing", "mitm_attack"),
    *("incognito", "privacy_settings", "virtual_machine", "virtual_machine_ml_score", "factory_reset_time"),
    *("browser_name", "browser_major_version", "browser_full_version"),
    *("vpn_ml_score", "vpn_origin_country", "proxy_ml_score"),
    *("vpn_method_os_mismatch", "vpn_method_ml_prediction", "tampering_anti_detect_browser"),
    *("tor", "ip_blocklist", "ip_blocklist_email_spam", "ip_blocklist_attack_source"),
}
# Values the two versions spell differently for the same fact.
SPELLED_DIFFERENTLY = {
    "confidence_revision": "v3 `v1.1`, v4 `1.1` (API.md 12.1)",
    "url": "v4 `url` is web only: a mobile app's ID moves to `package_name` / `bundle_id`",
}


@pytest.fixture(scope="module")
def both_versions() -> tuple[list[str], pl.DataFrame, dict, dict]:
    """1000 simulator events flattened from their v3 and their v4 body, with each event's platform."""
    population = Population(seed=3, events_per_day=1500)
    ids = [rid for _, rid in population.day_events(date(2026, 11, 20))][:1000]
    v3 = flatten(ids, [orjson.dumps(population.event_v3(rid)) for rid in ids], 3)
    v4 = flatten(ids, [orjson.dumps(population.event_v4(rid)) for rid in ids], 4)
    assert v3.quarantine.height == v4.quarantine.height == 0
    platforms = pl.DataFrame({"request_id": ids, "platform": [population.facts(r).device.platform for r in ids]})
    return ids, platforms, v3.tables, v4.tables


def shared_columns(table_name: str) -> list[str]:
    return [c.name for c in table(table_name).columns if c.fetched_paths(3) and c.paths(4)]


def paired(v3: pl.DataFrame, v4: pl.DataFrame, table_name: str) -> pl.DataFrame:
    keys = ["request_id", *(k.name for k in table(table_name).keys)]
    return v3.join(v4, on=keys, how="full", suffix="_v4", coalesce=True, nulls_equal=True)


def differing(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    return rows.filter(~pl.col(column).eq_missing(pl.col(column + "_v4")))


def test_every_v3_row_has_its_v4_twin_and_every_shared_column_is_identical(both_versions):
    _, platforms, v3, v4 = both_versions
    checked = 0
    for t in TABLES:
        if t.name in ("product_errors", "raw_device_attributes") or not shared_columns(t.name):
            continue  # v3 only / compared below
        rows = paired(v3[t.name], v4[t.name], t.name)
        if t.name == "ip_subdivisions":  # the deprecated identification.ipLocation is v3 only
            rows = rows.filter(pl.col("source") != "ip_location")
        assert rows.filter(pl.col("api_version").is_null() | pl.col("api_version_v4").is_null()).height == 0, t.name
        rows = rows.join(platforms, on="request_id")
        for c in shared_columns(t.name):
            diff = differing(rows, c)
            checked += 1
            if c in V3_NULL_WITHOUT_IDENTIFICATION:
                assert diff.filter(pl.col(c).is_not_null()).height == 0, c
            elif c in V4_NULL_WHERE_NOT_APPLICABLE:
                assert diff.filter(pl.col(c + "_v4").is_not_null()).height == 0, c
            elif c == "confidence_revision":
                assert diff.filter(pl.col(c) != "v" + pl.col(c + "_v4")).height == 0
            elif c == "url":
                assert set(diff["platform"]) <= {"android", "ios"} and diff["url_v4"].null_count() == diff.height
                assert (
                    diff["url"].to_list() == diff.select(pl.coalesce("package_name_v4", "bundle_id_v4"))[:, 0].to_list()
                )
            else:
                assert diff.height == 0, (t.name, c, diff.select("request_id", c, c + "_v4").head(3).rows())
    assert checked > 100
    assert v3["velocity"].height == v4["velocity"].height > 10_000
    assert v3["events"]["bot_result"].drop_nulls().unique().sort().to_list() == ["bad", "good", "notDetected"]


def test_v4_only_and_v3_only_columns_are_null_in_the_other_versions_rows(both_versions):
    _, _, v3, v4 = both_versions
    events = table("events")
    v3_only = [c.name for c in events.columns if c.paths(3) and not c.paths(4)]
    v4_only = [c.name for c in events.columns if c.paths(4) and not c.fetched_paths(3)]
    assert v4["events"].select(v3_only).null_count().min_horizontal().item() == v4["events"].height
    assert v3["events"].select(v4_only).null_count().min_horizontal().item() == v3["events"].height
    filled = [c for c in v4_only if v4["events"][c].null_count() < v4["events"].height]
    assert {"source", "high_recall_visitor_id", "client_referrer", "package_name", "bundle_id", "browser_os"} <= set(
        filled
    )
    assert set(v4["events"]["api_version"]) == {4} and set(v3["events"]["api_version"]) == {3}
    assert v4["product_errors"].height == 0 < v3["product_errors"].height  # v4 omits a failed signal


def test_raw_device_attributes_keep_the_api_spelling_and_agree_where_the_name_is_the_same(both_versions):
    _, _, v3, v4 = both_versions
    raw3 = v3["raw_device_attributes"].filter(pl.col("source") == "raw_device_attributes")
    raw4 = v4["raw_device_attributes"]
    assert set(raw4["attribute"]) <= set(RAW_NAMES.values())
    rows = raw3.join(raw4, on=["request_id", "source", "attribute"], suffix="_v4")
    assert rows.height > 5000
    # same name, same value, except `canvas`, whose keys v4 snake-cases (`Winding` -> `winding`)
    diff = differing(rows, "value_json")
    assert set(diff["attribute"]) == {"canvas"}
    assert diff["value_json"].str.to_lowercase().to_list() == diff["value_json_v4"].str.to_lowercase().to_list()


# What the official pair of examples (v3 get_event_200.json, v4 events/get_event_200.json: the same request ID
# and visitor) disagree on. They are not one event frozen twice (API.md 14.12): their timestamps are four years
# apart, and the v3 file predates fields added to v3 in 2025-26 that the v4 file has.
EXAMPLES_DISAGREE = {
    "timestamp": "2020-02-21 vs 2024-02-16",
    "timestamp_ms": "2020-02-21 vs 2024-02-16",
    "first_seen_at": "2022-03-16 vs 2024-02-16",
    "last_seen_at": "null (first visit) vs the event time",
    "proxy_confidence": "high vs low",
    "proxy_last_seen_at": "2025-08-12 vs 2024-02-16",
}
V3_EXAMPLE_PREDATES = {
    "confidence_revision",
    "rare_device",
    "rare_device_percentile_bucket",
    "virtual_machine_ml_score",
    "vpn_ml_score",
    "vpn_method_ml_prediction",
    "proxy_ml_score",
    "tampering_confidence",
    "tampering_ml_score",
    "asn_type",
}


def test_the_official_v3_and_v4_examples_agree_on_everything_they_both_describe(shared_examples: Path):
    rid = "1708102555327.NLOjmg"
    v3 = flatten([rid], [(shared_examples / "v3" / "get_event_200.json").read_bytes()], 3).tables
    v4 = flatten([rid], [(shared_examples / "v4" / "events" / "get_event_200.json").read_bytes()], 4).tables
    disagree, agree = set(), set()
    for name in ("events", "ip_info", "ip_subdivisions", "sdk_integrations", "velocity"):
        rows = paired(v3[name], v4[name], name).filter(pl.col("api_version").is_not_null())
        rows = rows.filter(pl.col("api_version_v4").is_not_null())
        for c in shared_columns(name):
            (disagree if differing(rows, c).height else agree).add(c)
    assert disagree == EXAMPLES_DISAGREE.keys() | V3_EXAMPLE_PREDATES
    assert {"visitor_id", "url", "ip", "bot_result", "tor", "ip_blocklist", "factory_reset_time", "asn"} <= agree
    assert len(agree) > 70


def test_v4_values_are_stored_in_the_v3_spelling_and_derived_flags_follow_the_catalog():
    def v4_event(**fields: object) -> bytes:
        return orjson.dumps({"event_id": "1708102555327.NLOjmg", "timestamp": 1708102555327, **fields})

    blocklists = [
        {"email_spam": False, "attack_source": False, "tor_node": False},
        {"email_spam": False, "attack_source": True, "tor_node": False},
        {"tor_node": True},
    ]
    bodies = [v4_event(bot="not_detected", ip_blocklist=b) for b in blocklists] + [v4_event(bot="future_value")]
    events = flatten(["a", "b", "c", "d"], bodies, 4).tables["events"]

    assert events["bot_result"].to_list() == ["notDetected"] * 3 + ["future_value"]
    assert events["ip_blocklist"].to_list() == [False, True, True, None]
    assert events["tor"].to_list() == [False, False, True, None]
    assert events["timestamp_ms"].to_list() == [1708102555327] * 4


def test_a_body_of_the_wrong_version_is_quarantined_not_half_loaded():
    v3_body = orjson.dumps({"products": {"identification": {"data": {"visitorId": "x"}}}})
    v4_body = orjson.dumps({"event_id": "e", "timestamp": 1})
    result = flatten(["a", "b", "c"], [v3_body, v4_body, v4_body], [4, 3, 5])

    assert result.events_quarantined == 3
    assert result.tables["events"].height == 0
    assert result.quarantine["reason"].to_list() == [
        "body is not a v4 event object with `event_id`",
        "body is not a v3 event object with `products`",
        "Server API version 5 is not supported (3 or 4)",
    ]


def _rich_v4_event() -> dict:
    """A simulator v4 event that has most fields (raw attributes, velocity, subdivisions, integrations)."""
    population = Population(seed=3, events_per_day=300)
    events = (population.event_v4(rid) for _, rid in population.day_events(date(2026, 11, 20)))
    return max(events, key=lambda e: len(orjson.dumps(e)))


V4_EVENT = _rich_v4_event()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_value_anywhere_in_a_v4_event_never_crashes_the_batch(arbitrary_value_in, data):
    event = arbitrary_value_in(V4_EVENT, data)
    result = flatten(["x", "ok"], [orjson.dumps(event), orjson.dumps(V4_EVENT)], 4)
    assert result.tables["events"].filter(pl.col("request_id") == "ok").height == 1
    assert result.events_quarantined + result.tables["events"].height == 2


# --- the simulator and the client speak v4 ---------------------------------------------------------------


def v4_get(handle, request_id: str, key: str | None = "default") -> requests.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {handle.api_key if key == 'default' else key}"}
    return requests.get(f"{handle.url}/v4/events/{request_id}", headers=headers, timeout=5)


def test_the_simulator_serves_the_same_facts_as_v4_with_v4_auth_and_error_bodies(simulator, shared_examples):
    handle = simulator()
    rid = event_ids(handle, 1)[0]
    errors = shared_examples / "v4" / "errors"

    def example(name: str) -> dict:
        return orjson.loads((errors / name).read_bytes())

    ok = v4_get(handle, rid)
    assert ok.status_code == 200 and ok.json() == handle.population.event_v4(rid)
    assert ok.json()["event_id"] == rid and "products" not in ok.json()
    assert v4_get(handle, rid, key=None).json() == example("403_secret_api_key_required.json")
    assert v4_get(handle, rid, key="wrong").json() == example("403_secret_api_key_not_found.json")
    v3_style = requests.get(f"{handle.url}/v4/events/{rid}", headers={"Auth-API-Key": handle.api_key}, timeout=5)
    assert v3_style.status_code == 403  # v4 takes the key only as a Bearer token
    assert v4_get(handle, id_aged(DAY_MS)).json() == example("404_event_not_found.json")
    assert v4_get(handle, "not-an-id").json() == example("400_event_id_invalid.json")
    assert handle.stats()["by_kind"]["event"] == 6

    limited = simulator(rps_limit=1, rps_burst=1, throttle_in_200_rate=1.0)
    statuses = [v4_get(limited, rid) for _ in range(3)]
    assert {r.status_code for r in statuses} == {200, 429}  # never the v3 in-200 throttle
    assert next(r for r in statuses if r.status_code == 429).json() == example("429_too_many_requests.json")
    failing = simulator(fail_5xx_rate=1.0)
    answers = {r.status_code: r for r in (v4_get(failing, rid) for _ in range(30))}
    assert answers[500].json() == example("500_internal_server_error.json")


def test_the_v4_client_reads_v4_events_with_the_same_outcomes_as_v3(simulator, api_client):
    sim = simulator()
    ids = event_ids(sim, 5)
    unknown = id_aged(DAY_MS)
    with api_client(sim, api_version=4) as client:
        results = {r.request_id: r for r in client.fetch_events([*ids, unknown, "not-an-id"])}

    for rid in ids:
        assert (results[rid].outcome, results[rid].api_version, results[rid].attempts) == ("ok", 4, 1)
        assert results[rid].body == v4_get(sim, rid).content
    gone, bad = results[unknown], results["not-an-id"]
    assert (gone.outcome, gone.http_status, gone.error_code, gone.attempts) == ("not_found", 404, "event_not_found", 1)
    assert (bad.outcome, bad.http_status, bad.error_code, bad.attempts) == (
        "failed",
        400,
        "request_cannot_be_parsed",
        1,
    )


def test_v4_throttling_and_server_errors_are_retried_until_ok(simulator, api_client):
    sim = simulator(rps_limit=20, rps_burst=2, fail_5xx_rate=0.3)
    ids = event_ids(sim, 12)
    with api_client(sim, api_version=4, max_attempts=10) as client:
        results = list(client.fetch_events(ids))

    assert sorted(r.request_id for r in results) == sorted(ids)
    assert all(r.outcome == "ok" and r.api_version == 4 for r in results)
    assert sim.stats()["by_status"].get("429", 0) + sim.stats()["faults"]["server_error"] > 0


def test_a_rejected_v4_key_stops_the_run_with_what_to_fix(simulator, api_client):
    sim = simulator()
    with api_client(sim, key="sk-wrong-v4", api_version=4) as client, pytest.raises(FatalApiError) as caught:
        list(client.fetch_events(event_ids(sim, 50)))

    assert str(caught.value).startswith(
        "Fingerprint rejected the secret key (403 secret_api_key_not_found): check FINGERPRINT_SECRET_API_KEY"
    )
    assert "sk-wrong-v4" not in str(caught.value)
    assert sim.stats()["total"] <= 2 * 4  # it stopped at once: at most two rounds of the 4 requests in flight
    name = dialect(4).error_name("wrong_region")
    assert "FINGERPRINT_REGION" in str(FatalApiError.forbidden("wrong_region", None, name))


@pytest.mark.parametrize(
    ("region", "api_url", "base"),
    [
        ("us", None, "https://api.fpjs.io/v4"),
        ("eu", None, "https://eu.api.fpjs.io/v4"),
        ("ap", None, "https://ap.api.fpjs.io/v4"),
        ("us", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/v4"),
        ("us", "https://proxy.example/fp/v4", "https://proxy.example/fp/v4"),
    ],
)
def test_v4_uses_the_regional_v4_base_and_an_override_names_the_server_root(region, api_url, base):
    root = ApiSettings(region=region, api_url=api_url).root_url
    assert dialect(4).base_url(root) == base
    assert dialect(3).base_url(root) == root


# --- the pipeline ----------------------------------------------------------------------------------------


def test_switching_a_running_warehouse_to_v4_changes_one_variable_and_no_query(world):
    sim, days = world.sim, world.days
    assert world.run_day(days[0]).success
    sim.reset_stats()
    result = world.run_day(days[1], api={"api_version": 4})

    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert set(failed) <= {"no_unknown_api_fields"}, failed
    assert sim.stats()["by_kind"]["event"] > 0
    per_day = world.query("SELECT day, api_version, count(*) FROM events GROUP BY ALL ORDER BY day")
    assert [(d, v) for d, v, _ in per_day] == [(days[0], 3), (days[1], 4)]
    assert world.query("SELECT DISTINCT api_version FROM fetches WHERE day = ?", [days[1]]) == [(4,)]
    both_days = world.query(
        "SELECT day, count(visitor_id), count(bot_result) FROM app_requests_enriched "
        "WHERE fetch_outcome = 'ok' GROUP BY day ORDER BY day",
    )
    assert [d for d, *_ in both_days] == days and all(n > 0 for _, n, _ in both_days)
    for view in ("velocity_wide", "suspicious_requests", "fetches_latest"):
        assert world.query(f"SELECT count(*) FROM {view} WHERE day = ?", [days[1]])[0][0] > 0
    assert world.query("SELECT count(*) FROM velocity WHERE api_version = 4")[0][0] > 0
