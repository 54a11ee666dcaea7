"""transforms.versions: the versions of an event, what the customer changed, and what else changed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.flatten import flatten
from transforms.versions import VERSIONS_SCHEMA, event_digest, labels, number_versions, single_versions, version_rows

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
V3 = {
    "products": {
        "identification": {
            "data": {"requestId": "1763625600000.AbCdEf", "linkedId": "u-1", "tag": {"a": 1, "b": [1, 2]}, "ip": "x"}
        },
        "botd": {"data": {"requestId": "1763625600000.AbCdEf", "linkedId": "u-1", "meta": {"a": 1, "b": [1, 2]}}},
        "vpn": {"data": {"result": False}},
    }
}
V4 = {"event_id": "1763625600000.AbCdEf", "linked_id": "u-1", "tags": {"a": 1}, "vpn": False}


def updated(event: dict, **identification: object) -> dict:
    """`event` (v3) as the Update API leaves it: identification's fields, and botd's copies, replaced."""
    out = copy.deepcopy(event)
    data, botd = out["products"]["identification"]["data"], out["products"]["botd"]["data"]
    data.update(identification)
    botd.update({k if k != "tag" else "meta": v for k, v in identification.items() if k in ("linkedId", "tag")})
    return out


def versions(*bodies: dict, version: int = 3) -> pl.DataFrame:
    n = len(bodies)
    staged = version_rows(
        ["1763625600000.AbCdEf"] * n,
        [T0 + timedelta(days=i) for i in range(n)],
        [version] * n,
        ["by_id"] + ["search"] * (n - 1),
        [orjson.dumps(b) for b in bodies],
    )
    return number_versions(staged)


def test_the_digest_ignores_key_order_and_formatting_but_not_values():
    reordered = orjson.loads(b'{"products": {"vpn": {"data": {"result": false}}, ' + orjson.dumps(V3)[13:])
    assert event_digest(reordered) == event_digest(V3)
    assert event_digest(updated(V3, suspect=True)) != event_digest(V3)


def test_labels_come_from_the_same_paths_as_the_events_columns():
    found = labels(updated(V3, suspect=True), 3)
    row = flatten(["r"], [orjson.dumps(updated(V3, suspect=True))]).tables["events"].row(0, named=True)
    assert found == {"linked_id": "u-1", "tag": {"a": 1, "b": [1, 2]}, "suspect": True}
    assert (row["linked_id"], orjson.loads(row["tag"]), row["suspect"]) == (found["linked_id"], found["tag"], True)
    assert labels(V4, 4) == {"linked_id": "u-1", "tag": {"a": 1}, "suspect": None}


def test_each_version_says_which_labels_changed_from_the_one_before():
    rows = versions(V3, updated(V3, suspect=True), updated(V3, suspect=True, linkedId="u-2", tag={"case": 7}))
    assert rows.schema == VERSIONS_SCHEMA
    assert rows["version"].to_list() == [1, 2, 3]
    assert rows["changed"].to_list() == [[], ["suspect"], ["linked_id", "tag"]]
    assert rows["linked_id"].to_list() == ["u-1", "u-1", "u-2"]
    assert rows["suspect"].to_list() == [None, True, True]
    assert rows["tag"].to_list()[2] == '{"case":7}'
    assert rows["is_latest"].to_list() == [False, False, True]
    assert rows["method"].to_list() == ["by_id", "search", "search"]


def test_a_tag_in_another_key_order_is_not_a_change_and_a_change_elsewhere_is_other():
    same_tag = updated(V3, tag={"b": [1, 2], "a": 1})
    completed = copy.deepcopy(V3)
    completed["products"]["vpn"]["data"]["result"] = True
    assert versions(V3, same_tag, completed)["changed"].to_list() == [[], [], ["other"]]


def test_v4_versions_use_the_v4_names():
    patched = {**V4, "tags": {"a": 2}, "suspect": False}
    assert versions(V4, patched, version=4)["changed"].to_list() == [[], ["tag", "suspect"]]


def test_the_same_version_received_twice_is_one_row_and_events_are_numbered_apart():
    body = orjson.dumps(V3)
    staged = version_rows(["a", "a", "b"], [T0, T0, T0], [3, 3, 3], ["by_id"] * 3, [body, body, body])
    rows = number_versions(staged)
    assert rows.select("request_id", "version", "is_latest").rows() == [("a", 1, True), ("b", 1, True)]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100) | st.builds(orjson.dumps, JSON), st.sampled_from([3, 4]))
def test_any_body_is_a_version_or_skipped_never_an_error(body, version):
    rows = number_versions(version_rows(["r"], [T0], [version], ["by_id"], [body]))
    assert rows.height <= 1 and rows.schema == VERSIONS_SCHEMA


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_value_anywhere_in_an_event_is_a_version(arbitrary_value_in, data):
    event = arbitrary_value_in(updated(V3, suspect=True), data)
    rows = versions(V3, event)
    assert rows.height == 2 and set(rows["changed"][1]) <= {"linked_id", "tag", "suspect", "other"}


def test_an_event_received_once_gets_the_same_row_from_its_events_row_as_from_its_body(shared_examples):
    bodies = [p.read_bytes() for p in sorted((shared_examples / "v3").glob("get_event_200*.json"))]
    ids = [f"r{i}" for i in range(len(bodies))]
    at, methods = [T0] * len(bodies), ["by_id"] * len(bodies)
    from_bodies = number_versions(version_rows(ids, at, [3] * len(bodies), methods, bodies))
    events = flatten(ids, bodies).tables["events"].select("request_id", "api_version", "linked_id", "tag", "suspect")
    received = pl.DataFrame({"request_id": ids, "fetched_at": at, "method": methods}).join(events, on="request_id")
    assert single_versions(received).sort("request_id").equals(from_bodies.sort("request_id"))
    assert from_bodies.height == received.height >= 8
