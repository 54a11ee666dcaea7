"""Flattening v3 responses into the catalog's typed tables: values, NULLs, errors, unknowns, bad types."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.catalog import TABLES
from transforms.flatten import QUARANTINE_SCHEMA, empty_tables, flatten

RID = "1708102555327.NLOjmg"

# A complete v3 event with every product (shared with the SQL tests through the `event_v3` fixture).
EVENT = orjson.loads((Path(__file__).parent / "data" / "event_v3.json").read_bytes())


def one(events: list[dict]) -> dict[str, pl.DataFrame]:
    result = flatten([RID] * len(events), [orjson.dumps(e) for e in events])
    return result.tables


def test_identification_fields_land_typed_in_events():
    events = one([EVENT])["events"]
    row = events.row(0, named=True)
    assert row["request_id"] == RID
    assert row["visitor_id"] == "Ibk1527CUFmcnjLwIs4A"
    assert row["timestamp"] == datetime(2026, 11, 22, 10, 0, 1, 123000, tzinfo=UTC)
    assert row["timestamp_ms"] == 1795341601123
    assert row["first_seen_at"] == datetime(2026, 10, 1, 8, 0, 0, 500000, tzinfo=UTC)
    assert row["last_seen_at"] is None
    assert row["confidence_score"] == 1.0
    assert orjson.loads(row["tag"]) == {"requestType": "login", "n": 1}
    assert row["vpn"] is True and row["vpn_method_timezone_mismatch"] is True
    assert row["vpn_origin_country"] == "JP"
    assert row["bot_result"] == "bad" and row["bot_type"] == "selenium"
    assert row["ip_v4_asn"] == "20712"
    assert events.schema["timestamp"] == pl.Datetime("us", "UTC")


def test_every_table_has_its_declared_schema_even_when_empty():
    tables = one([EVENT])
    for t in TABLES:
        assert tables[t.name].schema == t.schema
        assert empty_tables()[t.name].schema == t.schema


def test_a_product_error_becomes_nulls_and_an_error_row():
    tables = one([EVENT])
    assert tables["events"]["tor"][0] is None
    errors = tables["product_errors"]
    assert errors.select("product", "code", "message").rows() == [("tor", "Failed", "internal server error")]


def test_an_absent_product_gives_nulls_and_no_error_row():
    tables = one([EVENT])
    assert tables["events"]["proxy"][0] is None
    assert "proxy" not in tables["product_errors"]["product"].to_list()


def test_velocity_is_long_and_missing_intervals_are_absent_not_zero():
    velocity = one([EVENT])["velocity"].sort("metric", "interval")
    assert velocity.select("metric", "interval", "value").rows() == [
        ("distinct_ip", "1h", 2),
        ("distinct_ip", "5m", 1),
        ("events", "1h", 4),
        ("events", "24h", 25000),
        ("events", "5m", 3),
    ]


def test_subdivisions_keep_their_position_and_source():
    subs = one([EVENT])["ip_subdivisions"]
    assert subs.select("source", "position", "iso_code").rows() == [
        ("ip_info_v4", 0, "ENG"),
        ("ip_info_v4", 1, "LND"),
    ]


def test_raw_device_attributes_are_key_value_rows_with_json_values_and_errors():
    raw = one([EVENT])["raw_device_attributes"].sort("attribute")
    assert raw.select("attribute", "value_json", "error_name").rows() == [
        ("audio", None, "Error"),
        ("cpuClass", None, None),
        ("fonts", '["Arial","Menlo"]', None),
    ]


def test_ip_info_has_one_row_per_ip_version():
    ip = one([EVENT])["ip_info"]
    assert ip.select("ip_version", "address", "country_code", "asn", "datacenter_result").rows() == [
        ("v4", "81.2.69.142", "GB", "20712", False)
    ]


def test_sdk_integrations_are_exploded():
    assert one([EVENT])["sdk_integrations"].select("position", "name").rows() == [(0, "fingerprint-pro-react")]


def test_unknown_fields_are_counted_per_path_and_never_fatal():
    event = copy.deepcopy(EVENT)
    event["products"]["newProduct"] = {"data": {"result": True}}
    event["products"]["vpn"]["data"]["methods"]["quantumTunnel"] = True
    event["surprise"] = 1
    result = flatten([RID, RID], [orjson.dumps(event), orjson.dumps(event)])
    assert result.unknown_fields == {
        "products.newProduct": 2,
        "products.vpn.data.methods.quantumTunnel": 2,
        "surprise": 2,
    }
    assert result.tables["events"].height == 2


def test_a_wrong_type_nulls_only_that_value_and_is_quarantined_with_the_reason():
    event = copy.deepcopy(EVENT)
    event["products"]["identification"]["data"]["linkedId"] = {"broken": "format"}
    event["products"]["vpn"]["data"]["methods"] = "yes"
    result = flatten([RID], [orjson.dumps(event)])
    row = result.tables["events"].row(0, named=True)
    assert row["linked_id"] is None and row["vpn_method_timezone_mismatch"] is None
    assert row["visitor_id"] == "Ibk1527CUFmcnjLwIs4A"
    assert result.quarantine.select("json_path", "reason").rows() == [
        ("products.identification.data.linkedId", "expected string, got object"),
        ("products.vpn.data.methods", "expected object, got string"),
    ]


def test_an_unusable_body_quarantines_that_event_only():
    bodies = [b'{"products": {"identification": ', b"[1, 2]", orjson.dumps(EVENT)]
    result = flatten(["a", "b", "c"], bodies)
    assert result.events_quarantined == 2
    assert result.tables["events"]["request_id"].to_list() == ["c"]
    assert set(result.quarantine["request_id"]) == {"a", "b"}
    assert result.quarantine.schema == QUARANTINE_SCHEMA


def test_iso_timestamps_accept_any_fraction_and_offsets():
    event = copy.deepcopy(EVENT)
    seen = event["products"]["identification"]["data"]["firstSeenAt"]
    seen["subscription"] = "2019-10-12T07:20:50.52Z"
    seen["global"] = "2019-10-12T09:20:50+02:00"
    row = one([event])["events"].row(0, named=True)
    assert row["first_seen_at"] == datetime(2019, 10, 12, 7, 20, 50, 520000, tzinfo=UTC)
    assert row["first_seen_at_global"] == datetime(2019, 10, 12, 7, 20, 50, tzinfo=UTC)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_value_anywhere_in_an_event_never_crashes_the_batch(arbitrary_value_in, data):
    event = arbitrary_value_in(EVENT, data)
    result = flatten([RID, "ok"], [orjson.dumps(event), orjson.dumps(EVENT)])
    assert result.tables["events"].filter(pl.col("request_id") == "ok").height == 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_any_garbage_body_is_quarantined_not_raised(body):
    result = flatten(["x"], [body])
    assert result.events_quarantined + result.tables["events"].height == 1


@pytest.mark.parametrize("name", [t.name for t in TABLES])
def test_tables_have_request_id_and_api_version(name):
    assert one([EVENT])[name].columns[:2] == ["request_id", "api_version"]
