"""The simulated population: signed request IDs, day lists, deterministic and realistic v3 events."""

from __future__ import annotations

import ipaddress
import re
import time
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest

from simulator.facts import HIDE_24H_ABOVE, HIDE_24H_METRICS, NOVELTIES, PRODUCTS
from simulator.population import Population, UnknownRequestId, day_start_ms

DAY = date(2026, 11, 22)
REQUEST_ID = re.compile(r"^\d{13}\.[A-Za-z0-9]{6}$")


@pytest.fixture(scope="module")
def population() -> Population:
    return Population(seed=1)


@pytest.fixture(scope="module")
def day_events(population: Population) -> list[tuple[int, str]]:
    return population.day_events(DAY)


@pytest.fixture(scope="module")
def events(population: Population, day_events: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [population.event_v3(rid) for _, rid in day_events]


def paths(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path in a JSON document; list items share their list's path."""
    found: set[tuple[str, ...]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add((*prefix, key))
            found |= paths(value, (*prefix, key))
    elif isinstance(node, list):
        for item in node:
            found |= paths(item, prefix)
    return found


def data(event: dict[str, Any], product: str) -> Any:
    return event["products"].get(product, {}).get("data")


# --- identity and days -------------------------------------------------------------------------------------
def test_a_day_has_exactly_events_per_day_unique_sorted_events_inside_the_day(day_events):
    assert len(day_events) == 2000
    assert len({rid for _, rid in day_events}) == 2000
    assert day_events == sorted(day_events)
    start = day_start_ms(DAY)
    assert all(start <= ts < start + 86_400_000 for ts, _ in day_events)
    assert all(REQUEST_ID.match(rid) for _, rid in day_events)


def test_the_timestamp_is_the_id_prefix_plus_a_small_offset(day_events):
    offsets = [ts - int(rid[:13]) for ts, rid in day_events]
    assert min(offsets) >= 0 and max(offsets) <= 40
    assert len(set(offsets)) > 30, "the offset varies, so the prefix is close to but not the timestamp"


def test_a_few_percent_of_events_share_their_millisecond(day_events):
    per_ms = Counter(ts for ts, _ in day_events)
    tied = sum(n for n in per_ms.values() if n > 1)
    assert 0.01 * len(day_events) <= tied <= 0.1 * len(day_events)
    shared_prefix = Counter(rid[:13] for _, rid in day_events)
    assert max(shared_prefix.values()) >= 2, "several collision indexes j for one prefix"


def test_existence_is_a_keyed_check_that_other_seeds_do_not_pass(population, day_events):
    rid = day_events[0][1]
    assert population.exists(rid) and Population(seed=1).exists(rid)
    assert not Population(seed=2).exists(rid)
    forged = rid[:-1] + ("A" if rid[-1] != "A" else "B")
    assert not population.exists(forged)
    assert not population.exists("12345.abc")
    with pytest.raises(UnknownRequestId):
        population.facts(forged)


def test_the_day_list_is_deterministic_across_instances(day_events):
    assert Population(seed=1).day_events(DAY) == day_events
    assert Population(seed=2).day_events(DAY) != day_events


# --- determinism -----------------------------------------------------------------------------------------------
def test_the_same_request_id_gives_the_same_event_in_a_fresh_population(events, day_events):
    fresh = Population(seed=1)
    for k in (0, 7, 500, 1999):
        assert fresh.event_v3(day_events[k][1]) == events[k]


def test_the_requested_id_is_in_identification_and_botd(events, day_events):
    for event, (ts, rid) in zip(events, day_events, strict=True):
        identification = data(event, "identification")
        if identification is not None:
            assert identification["requestId"] == rid
            assert identification["timestamp"] == ts
        botd = data(event, "botd")
        if botd is not None:
            assert botd["requestId"] == rid


# --- coverage of the v3 contract -----------------------------------------------------------------------------
def test_every_v3_product_appears_with_data_and_with_an_error(events):
    with_data = Counter(p for e in events for p, v in e["products"].items() if "data" in v)
    with_error = Counter(p for e in events for p, v in e["products"].items() if "error" in v)
    for product in PRODUCTS:
        assert with_data[product] > 0, product
        assert with_error[product] > 0, product
    errors = [v["error"] for e in events for v in e["products"].values() if "error" in v]
    assert all(error == {"code": "Failed", "message": "internal server error"} for error in errors)
    share = sum(with_error.values()) / sum(with_data.values())
    assert 0.015 < share < 0.05, "about 3 % of products fail"
    degraded = sum(any("error" in v for v in e["products"].values()) for e in events)
    assert degraded < 0.12 * len(events), "failures cluster in a few degraded events"


def test_some_products_are_absent_because_they_are_not_in_the_plan(events):
    present = Counter(p for e in events for p in e["products"])
    assert present["identification"] == len(events)
    assert present["remoteControl"] < len(events) / 2
    assert present["vpn"] < len(events)


RARE_PATHS = [
    ("products", "identification", "data", "suspect"),
    ("products", "identification", "data", "environmentId"),
    ("products", "identification", "data", "confidence", "revision"),
    ("products", "identification", "data", "confidence", "comment"),
    ("products", "identification", "data", "components"),
    ("products", "identification", "data", "ipLocation", "subdivisions", "isoCode"),
    ("products", "identification", "data", "sdk", "integrations", "subintegration", "version"),
    ("products", "highActivity", "data", "dailyRequests"),
    ("products", "botd", "data", "meta"),
    ("products", "botd", "data", "linkedId"),
    ("products", "botd", "data", "bot", "type"),
    ("products", "proxy", "data", "details", "lastSeenAt"),
    ("products", "proxy", "data", "mlScore"),
    ("products", "vpn", "data", "mlScore"),
    ("products", "vpn", "data", "methods", "mlPrediction"),
    ("products", "virtualMachine", "data", "mlScore"),
    ("products", "tampering", "data", "mlScore"),
    ("products", "tampering", "data", "confidence"),
    ("products", "ipInfo", "data", "v4", "asn", "type"),
    ("products", "ipInfo", "data", "v6", "geolocation", "postalCode"),
    ("products", "rawDeviceAttributes", "data", "audio", "error", "message"),
    ("products", "labels", "data", "mlScore"),
]


@pytest.mark.parametrize("path", RARE_PATHS, ids=".".join)
def test_rarely_filled_fields_appear_somewhere(events, path):
    assert any(path in paths(e) for e in events)


def test_unknown_fields_appear_in_about_one_percent_of_events(events):
    allowed = set(NOVELTIES.values())
    novel = [e for e in events if paths(e) & allowed]
    assert 5 <= len(novel) <= 50
    assert len({p for e in novel for p in paths(e) & allowed}) >= 3


def test_unknown_field_names_where_each_version_carries_the_planted_field(population, day_events):
    planted = Counter()
    for _, rid in day_events:
        novelty = population.facts(rid).novelty
        for version, body in ((3, population.event_v3(rid)), (4, population.event_v4(rid))):
            path = population.unknown_field(rid, version)
            assert (path is None) == (novelty is None)
            if path is not None:
                planted[version] += 1
                assert path in paths(body), (rid, version, path)
    assert planted[3] == planted[4] > 5


# --- realism ---------------------------------------------------------------------------------------------------
def test_traffic_mixes_platforms_repeat_visitors_and_bots(events):
    identifications = [d for e in events if (d := data(e, "identification"))]
    platforms = Counter(d["sdk"]["platform"] for d in identifications)
    assert 0.7 < platforms["js"] / len(identifications) < 0.9
    assert platforms["android"] > 0 and platforms["ios"] > 0
    visitors = Counter(d["visitorId"] for d in identifications)
    assert all(len(v) == 20 for v in visitors)
    assert len(visitors) < 0.8 * len(identifications), "visitors come back"
    assert any(not d["visitorFound"] for d in identifications)
    bots = Counter(d["bot"]["result"] for e in events if (d := data(e, "botd")))
    assert set(bots) == {"notDetected", "good", "bad"}
    assert len(Counter(d["browserDetails"]["browserName"] for d in identifications)) >= 8
    assert sum("linkedId" in d for d in identifications) not in (0, len(identifications))


def test_ip_info_is_consistent_and_sometimes_has_v6(events):
    infos = [d for e in events if (d := data(e, "ipInfo"))]
    assert 0.15 < sum("v6" in d for d in infos) / len(infos) < 0.35
    subdivision_counts = set()
    for info in infos:
        for version, block in info.items():
            address = ipaddress.ip_address(block["address"])
            assert address.version == int(version[1])
            assert address in ipaddress.ip_network(block["asn"]["network"])
            assert block["asn"]["asn"].isdigit()
            geo = block["geolocation"]
            assert len(geo["country"]["code"]) == 2 and len(geo["continent"]["code"]) == 2
            subdivision_counts.add(len(geo.get("subdivisions", [])))
            assert block["datacenter"]["result"] or block["datacenter"]["name"] == ""
    assert {0, 1, 2, 3} <= subdivision_counts


def test_first_visits_have_null_last_seen_and_times_parse(events):
    for event in events:
        d = data(event, "identification")
        if d is None:
            continue
        if not d["visitorFound"]:
            assert d["lastSeenAt"] == {"global": None, "subscription": None}
        for seen in (d["firstSeenAt"], d["lastSeenAt"]):
            for value in seen.values():
                if value is not None:
                    assert datetime.fromisoformat(value) <= datetime.fromtimestamp(d["timestamp"] / 1000, UTC)
        assert d["time"] == datetime.fromtimestamp(d["timestamp"] // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_velocity_follows_the_linked_id_and_24h_rules(events):
    saw_hidden_24h = False
    for event in events:
        velocity, identification = data(event, "velocity"), data(event, "identification")
        if velocity is None or identification is None:
            continue
        if "linkedId" not in identification:
            assert velocity["distinctLinkedId"] == velocity["distinctIpByLinkedId"] == {}
            assert velocity["distinctVisitorIdByLinkedId"] == {}
        busy = velocity["events"].get("intervals", {}).get("24h", 0) > HIDE_24H_ABOVE
        for metric, value in velocity.items():
            intervals = value.get("intervals")
            if intervals is None:
                continue
            assert intervals["5m"] <= intervals["1h"] <= intervals.get("24h", intervals["1h"])
            if busy and metric in HIDE_24H_METRICS:
                assert "24h" not in intervals
                saw_hidden_24h = True
    assert saw_hidden_24h, "some bot traffic exceeds 20 000 events a day"


def test_tags_and_raw_attributes_come_in_all_shapes(events):
    tags = [d["tag"] for e in events if (d := data(e, "identification"))]
    assert {} in tags
    assert any("requestType" in t for t in tags)
    assert any(any(isinstance(v, dict) for v in t.values()) for t in tags)
    assert any(None in t.values() for t in tags)
    attributes = [a for e in events if (a := data(e, "rawDeviceAttributes"))]
    states = Counter()
    for attrs in attributes:
        for value in attrs.values():
            states["empty" if value == {} else "error" if "error" in value else type(value["value"]).__name__] += 1
    assert {"empty", "error", "int", "float", "str", "bool", "list", "dict"} <= set(states)
    languages = next(a["languages"]["value"] for a in attributes if "languages" in a)
    assert isinstance(languages[0], list)
    assert any(set(a.get("canvas", {}).get("value", {})) == {"Winding", "Geometry", "Text"} for a in attributes)


def test_planted_patterns_are_in_the_facts(population):
    plants = population.planted(DAY)
    sharer = [rid for rid, kind in plants.items() if kind == "account_sharer"]
    burst = [rid for rid, kind in plants.items() if kind == "bot_burst"]
    assert len(sharer) == 12
    sharer_events = [population.event_v3(rid)["products"]["identification"]["data"] for rid in sharer]
    assert {d["linkedId"] for d in sharer_events} == {"u-sharer"}
    assert len({d["visitorId"] for d in sharer_events}) == 12
    assert len(burst) >= 50
    times = [population.timestamp_ms(rid) for rid in burst]
    assert max(times) - min(times) <= 240_000
    facts = [population.facts(rid) for rid in burst]
    assert {f.bot for f in facts} == {"bad"}
    assert len({ipaddress.ip_network(f"{f.ip_v4.address}/24", strict=False) for f in facts}) == 1
    assert {rid for _, rid in population.day_events(DAY)} >= set(plants)


def test_generating_an_event_takes_well_under_half_a_millisecond(population, day_events):
    ids = [rid for _, rid in day_events[:500]]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for rid in ids:
            population.event_v3(rid)
        best = min(best, (time.perf_counter() - started) / len(ids))
    assert best < 0.0005
