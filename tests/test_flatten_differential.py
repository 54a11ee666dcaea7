"""The flattener against its reference: identical frames, quarantine and unknown-field counts for every input.

`tests.reference_flatten` is the flattener as it was before the typed fast path (issue 15). Whatever the
production flattener does to be fast, its output must not differ from the reference in a row, a column, a
dtype, a value, a quarantine row or an unknown-field count (their order included): real simulator events of
both API versions and many seeds, the official examples, and real events mutated by hypothesis (wrong types,
nulls, unknown keys, huge numbers, other JSON spellings, truncated bodies).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from simulator.population import Population
from tests import reference_flatten
from transforms.catalog import TABLES
from transforms.dialects import v3_webhook
from transforms.flatten import FlattenResult, flatten

DAY = date(2026, 11, 20)


def outcome(
    flattener: Any, ids: Sequence[str], bodies: Sequence[bytes | str], versions: Sequence[int] | int
) -> FlattenResult | str:
    """The flattener's result, or the name of the exception it raised (a crash must be identical too)."""
    try:
        return flattener(ids, bodies, versions)
    except Exception as error:  # compared, not swallowed: both sides must raise the same
        return type(error).__name__


def assert_same(ids: Sequence[str], bodies: Sequence[bytes | str], versions: Sequence[int] | int = 3) -> None:
    new = outcome(flatten, ids, bodies, versions)
    old = outcome(reference_flatten.flatten, ids, bodies, versions)
    if isinstance(old, str) or isinstance(new, str):
        assert new == old
        return
    assert list(new.tables) == list(old.tables) == [t.name for t in TABLES]
    for name, frame in [*old.tables.items(), ("quarantine", old.quarantine)]:
        theirs = new.quarantine if name == "quarantine" else new.tables[name]
        try:
            assert_frame_equal(theirs, frame, check_exact=True)
        except AssertionError as difference:
            raise AssertionError(f"table {name}: {difference}") from difference
    assert list(new.unknown_fields.items()) == list(old.unknown_fields.items())
    assert (new.events_in, new.events_quarantined) == (old.events_in, old.events_quarantined)


def simulator_events(seed: int, count: int) -> tuple[list[str], list[dict], list[dict]]:
    population = Population(seed=seed, events_per_day=count)
    ids = [rid for _, rid in population.day_events(DAY)][:count]
    return ids, [population.event_v3(r) for r in ids], [population.event_v4(r) for r in ids]


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 8, 13, 21, 34])
def test_simulator_events_of_both_versions_flatten_identically(seed):
    ids, v3, v4 = simulator_events(seed, 250)
    assert_same(ids, [orjson.dumps(e) for e in v3], 3)
    assert_same(ids, [orjson.dumps(e) for e in v4], 4)
    mixed = [orjson.dumps(e3 if i % 3 else e4) for i, (e3, e4) in enumerate(zip(v3, v4, strict=True))]
    assert_same(ids, mixed, [3 if i % 3 else 4 for i in range(len(ids))])


def test_other_json_spellings_of_the_same_events_flatten_identically():
    ids, v3, v4 = simulator_events(4, 60)
    spellings = (
        lambda e: json.dumps(e).encode(),  # spaces after separators
        lambda e: json.dumps(e, ensure_ascii=True, indent=1),  # str bodies, \u escapes, newlines
        lambda e: orjson.dumps(e, option=orjson.OPT_INDENT_2) + b"\n",
    )
    for spell in spellings:
        assert_same(ids, [spell(e) for e in v3], 3)
        assert_same(ids, [spell(e) for e in v4], 4)


def test_duplicate_request_ids_and_keys_and_wrong_versions_flatten_identically():
    ids, v3, v4 = simulator_events(6, 20)
    body = orjson.dumps(v3[0])
    duplicated_key = body[:-1] + b',"products":' + orjson.dumps(v3[1]["products"]) + b"}"
    bodies = [body, body, duplicated_key, orjson.dumps(v4[2]), orjson.dumps(v3[3]), b"", b"null", b"{}"]
    assert_same(["same"] * len(bodies), bodies, [3, 3, 3, 3, 4, 3, 4, 3])
    assert_same(ids[:3], [body, body, body], [3, 4, 5])


def example_bodies(examples: Path) -> list[bytes]:
    paths = [
        *sorted((examples / "v3").glob("get_event_*.json")),
        examples / "v3" / "webhook.json",
        *sorted((examples / "v4" / "events").rglob("*.json")),
        *sorted((examples / "v4" / "webhook").glob("*.json")),
    ]
    bodies = []
    for path in paths:
        doc = orjson.loads(path.read_bytes())
        events = doc.get("events", [doc]) if isinstance(doc, dict) else [doc]
        bodies += [path.read_bytes(), *(orjson.dumps(e) for e in events)]
    return bodies


def test_the_official_examples_flatten_identically_as_either_version(shared_examples: Path):
    # v3 webhook payloads are converted to the event shape since push mode (the reference quarantines them)
    bodies = [b for b in example_bodies(shared_examples) if not v3_webhook.is_webhook(orjson.loads(b))]
    assert len(bodies) > 20
    ids = [f"example-{i}" for i in range(len(bodies))]
    assert_same(ids, bodies, 3)
    assert_same(ids, bodies, 4)


# --- mutated real events ----------------------------------------------------------------------------------

_IDS, _V3, _V4 = simulator_events(9, 40)
RICH_V3 = max(_V3, key=lambda e: len(orjson.dumps(e)))
RICH_V4 = max(_V4, key=lambda e: len(orjson.dumps(e)))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, -1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64, 1.0, -0.0, 1e308, 5e-324, 0.1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "2026-11-20T10:00:01Z",
            "2026-11-20T10:00:01.123456789Z",
            "2026-11-20T10:00:01+05:30",
            "2026-11-20 10:00:01.5+00:00",
            "2026-11-20",
            "20261120T100001Z",
            "2026-11-20T25:00:00Z",
            "not_detected",
            "\u00e9\U0001f600",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10,
)


def mutate(event: Any, data: st.DataObject) -> Any:
    """A copy of `event` with one change at a random place: a new value, a new key, a removed key or a null."""
    event = copy.deepcopy(event)
    node = event
    while True:
        if isinstance(node, list) and node:
            index = data.draw(st.integers(0, len(node) - 1))
            if isinstance(node[index], dict | list) and data.draw(st.booleans()):
                node = node[index]
                continue
            node[index] = data.draw(json_values)
            return event
        if not isinstance(node, dict) or not node:
            return event
        key = data.draw(st.sampled_from(sorted(node)))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.integers(0, 3)):
            node = child
            continue
        action = data.draw(st.sampled_from(["value", "new_key", "remove", "null"]))
        if action == "value":
            node[key] = data.draw(json_values)
        elif action == "new_key":
            node[data.draw(st.text(min_size=1, max_size=6))] = data.draw(json_values)
        elif action == "remove":
            del node[key]
        else:
            node[key] = None
        return event


def serialize(event: Any, data: st.DataObject) -> bytes | str:
    """The event as JSON text in one of several spellings, sometimes cut short."""
    text = data.draw(
        st.sampled_from(
            [
                lambda e: json.dumps(e).encode(),
                lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":")),
                lambda e: json.dumps(e, indent=2).encode(),
            ]
        )
    )(event)
    if data.draw(st.integers(0, 9)) == 0:
        text = text[: data.draw(st.integers(0, len(text)))]
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_events_flatten_identically(data):
    versions = data.draw(st.lists(st.sampled_from([3, 4]), min_size=1, max_size=4))
    events = [copy.deepcopy(RICH_V3 if v == 3 else RICH_V4) for v in versions]
    for _ in range(data.draw(st.integers(1, 3))):
        which = data.draw(st.integers(0, len(events) - 1))
        events[which] = mutate(events[which], data)
    bodies = [serialize(e, data) for e in events]
    assert_same([f"m{i}" for i in range(len(bodies))], bodies, versions)


def test_deeply_nested_free_form_values_behave_identically():
    for depth in (200, 254, 255, 600, 1100):
        nested = "[" * depth + '"x"' + "]" * depth
        v3 = copy.deepcopy(RICH_V3)
        v3["products"]["identification"]["data"]["tag"] = "NESTED"
        v4 = {**RICH_V4, "tags": "NESTED"}
        bodies = [json.dumps(e).replace('"NESTED"', nested) for e in (v3, v4)]
        assert_same(["a", "b"], bodies, [3, 4])


def test_integers_beyond_int64_behave_identically():
    bodies = []
    for value in (2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1):
        v3 = copy.deepcopy(RICH_V3)
        v3["products"]["suspectScore"] = {"data": {"result": value}}
        v3["products"]["identification"]["data"]["timestamp"] = value
        bodies.append(json.dumps(v3))
    for body in bodies:
        assert_same(["a"], [body], 3)
    assert_same(["a", "b"], [bodies[0], json.dumps({**RICH_V4, "timestamp": 2**63})], [3, 4])


def test_the_reference_and_the_flattener_give_the_same_frame_types():
    ids, v3, _ = simulator_events(2, 5)
    result = flatten(ids, [orjson.dumps(e) for e in v3])
    for t in TABLES:
        assert result.tables[t.name].schema == t.schema
    assert isinstance(result.quarantine, pl.DataFrame)


def test_well_formed_events_take_the_fast_path_and_only_the_others_are_walked():
    ids, v3, v4 = simulator_events(12, 120)
    for version, events in ((3, v3), (4, v4)):
        bodies = [orjson.dumps(e) for e in events]
        # an event needs the exact walker when the reference finds an unknown key or a bad value in it
        needs_walker = sum(
            1
            for rid, body in zip(ids, bodies, strict=True)
            if (alone := reference_flatten.flatten([rid], [body], version)).unknown_fields or alone.quarantine.height
        )
        result = flatten(ids, bodies, version)
        assert result.events_walked == needs_walker < len(ids) // 10
    broken = flatten(["a", "b"], [b"{", orjson.dumps(v3[0])], [3, 5])
    assert broken.events_walked == 2
