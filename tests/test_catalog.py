"""The field catalog: its CLI contract, and that it covers every field real responses carry."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson
import pytest

from transforms import catalog
from transforms.flatten import flatten

REPO = Path(__file__).resolve().parents[1]
EXAMPLES_V3 = REPO.parent / "shared" / "fingerprint-api" / "examples" / "v3"
EXAMPLES_V4 = REPO.parent / "shared" / "fingerprint-api" / "examples" / "v4"


def leaf_paths(value: object, path: str = "") -> Iterator[str]:
    """Every leaf of a JSON document as a dotted path, `[]` for list elements (empty containers have none)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaf_paths(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from leaf_paths(v, f"{path}[]")
    else:
        yield path


def catalog_matcher(api_version: int) -> re.Pattern[str]:
    """A regex matching the leaf paths the catalog covers: `*` is any key, a JSON column covers its subtree."""
    alternatives = []
    kinds = {(t.name, c.name): c.kind for t in catalog.TABLES for c in t.columns}
    for e in catalog.entries():
        if e.api_version != api_version:
            continue
        pattern = re.escape(e.json_path).replace(r"\*", r"[^.\[]+")
        if kinds[(e.table, e.column)] == "json":
            pattern += r"(?:[.\[].*)?"
        alternatives.append(pattern)
    return re.compile("^(?:" + "|".join(alternatives) + ")$")


def uncovered(event: dict, api_version: int = 3) -> set[str]:
    """Leaf paths the catalog has no column for (a null where the catalog expects an object is covered)."""
    matcher = catalog_matcher(api_version)
    containers = {
        prefix for e in catalog.entries() if e.api_version == api_version for prefix in _prefixes(e.json_path)
    }
    return {p for p in leaf_paths(event) if not matcher.match(p) and p not in containers}


def _prefixes(path: str) -> Iterator[str]:
    parts = path.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i]).removesuffix("[]")


def test_the_cli_prints_the_catalog_as_json_with_the_documented_keys():
    out = subprocess.run(
        [sys.executable, "-m", "transforms.catalog", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    rows = orjson.loads(out)
    keys = ("api_version", "column", "description", "dtype", "json_path", "privacy", "table")
    assert {tuple(sorted(r)) for r in rows} == {keys}
    assert {(r["table"], r["column"], r["privacy"]) for r in rows if r["privacy"]} >= {("ip_info", "address", "ip")}
    paths = {r["json_path"] for r in rows}
    assert "products.ipInfo.data.v4.geolocation.subdivisions[].name" in paths
    assert "products.velocity.data.distinctIp.intervals.5m" in paths
    assert "products.rawDeviceAttributes.data.*.value" in paths
    assert all(r["description"] for r in rows)
    v4 = {(r["json_path"], r["column"]) for r in rows if r["api_version"] == 4}
    assert ("velocity.distinct_ip.5_minutes", "value") in v4
    assert ("ip_blocklist.tor_node", "tor") in v4 and ("ip_blocklist.tor_node", "ip_blocklist") in v4
    assert ("raw_device_attributes.*", "value_json") in v4


def test_the_cli_prints_markdown_for_people():
    out = subprocess.run(
        [sys.executable, "-m", "transforms.catalog", "--format", "markdown"],
        cwd=REPO,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert out.startswith("| api | json_path |")
    assert "`products.vpn.data.methods.timezoneMismatch` | events | vpn_method_timezone_mismatch" in out


def test_column_names_are_snake_case_and_unique_per_table():
    for t in catalog.TABLES:
        names = [c.name for c in (*catalog.SYSTEM_COLUMNS, *t.keys, *t.columns)]
        assert len(names) == len(set(names)), t.name
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names), t.name


def test_every_v3_product_has_columns_or_rows_in_the_catalog():
    paths = {e.json_path for e in catalog.entries()}
    for product in catalog.PRODUCTS_V3:
        assert any(p.startswith(f"products.{product}.data") for p in paths), product
        assert f"products.{product}.error.code" in paths


def shared_event_examples() -> list[Path]:
    if not EXAMPLES_V3.is_dir():
        pytest.skip("../shared/fingerprint-api is not present")
    return sorted(EXAMPLES_V3.glob("get_event_*.json"))


def events_of(path: Path) -> list[dict]:
    doc = orjson.loads(path.read_bytes())
    return doc.get("events", [doc])


def test_every_leaf_of_every_official_v3_event_example_is_in_the_catalog():
    examples = shared_event_examples()
    assert len(examples) >= 10
    for path in examples:
        for event in events_of(path):
            result = flatten(["x"], [orjson.dumps(event)])
            unknown = set(result.unknown_fields)
            mistyped = set(result.quarantine["json_path"])  # covered, but the value had the wrong shape
            # what the flattener calls unknown is exactly what the catalog does not cover, and only
            # the examples that plant unknown fields on purpose have any
            missing = {p for p in uncovered(event) if not any(p.startswith(u) for u in unknown | mistyped)}
            assert missing == set(), path.name
            if "unknown_field" in path.name or "extra_fields" in path.name:
                assert unknown, path.name
            else:
                assert not unknown, (path.name, unknown)


def test_the_official_odd_examples_load_without_failing():
    examples = {p.name: p for p in shared_event_examples()}
    names = [
        "get_event_200_all_errors.json",
        "get_event_200_extra_fields.json",
        "get_event_200_with_unknown_field.json",
        "get_event_200_with_broken_format.json",
    ]
    result = flatten(names, [examples[n].read_bytes() for n in names])
    assert result.tables["events"].height == 4
    assert result.events_quarantined == 0
    assert result.quarantine["json_path"].to_list() == ["products.identification.data.linkedId"]
    assert result.unknown_fields["products.product3"] == 1
    errors = result.tables["product_errors"].filter(result.tables["product_errors"]["request_id"] == names[0])
    assert errors.height >= 20


def test_every_leaf_of_simulator_events_is_in_the_catalog_except_its_planted_novelties():
    from simulator.facts import NOVELTIES
    from simulator.population import Population

    population = Population(seed=3, events_per_day=1500)
    novel_paths = {".".join(path) for path in NOVELTIES.values()}
    seen_novel = set()
    for _, rid in population.day_events(date(2026, 11, 20)):
        event = population.event_v3(rid)
        for path in uncovered(event):
            novel = next((n for n in novel_paths if path == n or path.startswith(n + ".")), None)
            assert novel is not None, (rid, path)
            seen_novel.add(novel)
    assert seen_novel  # the simulator does plant unknown fields, and only those are uncovered


def v4_event_examples() -> list[Path]:
    """Every v4 example that is an event: GET event bodies, search page events and the webhook (an event plus
    webhook-only fields, mapped through the same catalog)."""
    if not EXAMPLES_V4.is_dir():
        pytest.skip("../shared/fingerprint-api is not present")
    events = sorted((EXAMPLES_V4 / "events").glob("get_event_*.json"))
    return [
        *events,
        *sorted((EXAMPLES_V4 / "events" / "search").glob("*.json")),
        *(EXAMPLES_V4 / "webhook").glob("*.json"),
    ]


def test_every_leaf_of_every_official_v4_event_example_is_in_the_catalog():
    examples = v4_event_examples()
    assert len(examples) >= 7
    for path in examples:
        for event in events_of(path):
            result = flatten(["x"], [orjson.dumps(event)], 4)
            unknown = set(result.unknown_fields)
            assert result.quarantine.height == 0, path.name
            assert uncovered(event, 4) == unknown, path.name  # the flattener and the catalog agree
            if "unknown_field" in path.name:
                assert unknown == {"unknown_field", "browser_details.unknown_sub_field"}
            else:
                assert not unknown, (path.name, unknown)


def test_every_leaf_of_simulator_v4_events_is_in_the_catalog_except_its_planted_novelties():
    from simulator.events_v4 import NOVELTIES_V4
    from simulator.population import Population

    population = Population(seed=3, events_per_day=1500)
    novel_paths = {".".join(path) for path in NOVELTIES_V4.values()}
    seen_novel = set()
    for _, rid in population.day_events(date(2026, 11, 20)):
        for path in uncovered(population.event_v4(rid), 4):
            novel = next((n for n in novel_paths if path == n or path.startswith(n + ".")), None)
            assert novel is not None, (rid, path)
            seen_novel.add(novel)
    assert seen_novel
