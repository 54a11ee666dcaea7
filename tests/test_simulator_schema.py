"""Generated v3 events against the v3 OpenAPI schema: every key, type and required field, walked structurally.

Free-form values (`tag`, `botd.meta`, raw attribute `value`s) are not walked; the deliberate unknown fields of
`simulator.facts.NOVELTIES` are the only keys allowed outside the schema.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from simulator.facts import NOVELTIES
from simulator.population import Population

yaml = pytest.importorskip("yaml")

SCHEMA_FILE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "fingerprint-api" / "schema" / "server-api-v3.yaml"
)
TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "object": (dict,)}
TYPES["array"] = (list,)
# Required in the HEAD schema since 2026-03 but missing from older payloads (API.md 8.3); the simulator sends
# both shapes on purpose.
LATE_REQUIRED = {("products", "tampering", "data"): {"confidence", "mlScore"}}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not SCHEMA_FILE.is_file():
        pytest.skip("../shared not present")
    return yaml.safe_load(SCHEMA_FILE.read_text())["components"]["schemas"]


class Walker:
    """Collects every place where a document leaves the schema."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.problems: set[str] = set()
        self.novel = set(NOVELTIES.values())

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def walk(self, value: Any, schema: dict[str, Any], path: tuple[str, ...]) -> None:
        schema = self.resolve(schema)
        if not schema.keys() & {"type", "properties", "items", "additionalProperties", "enum"}:
            return  # free-form, e.g. a raw attribute's `value`
        where = ".".join(path)
        if value is None:
            if not schema.get("nullable"):
                self.problems.add(f"{where}: null not allowed")
            return
        expected = schema.get("type")
        if expected and not (isinstance(value, TYPES[expected]) and (expected == "boolean") == isinstance(value, bool)):
            self.problems.add(f"{where}: {type(value).__name__} is not {expected}")
            return
        if "enum" in schema and value not in schema["enum"]:
            self.problems.add(f"{where}: {value!r} not in enum")
        if isinstance(value, list):
            for item in value:
                self.walk(item, schema.get("items", {}), path)
        elif isinstance(value, dict):
            self.walk_object(value, schema, path)

    def walk_object(self, value: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...]) -> None:
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", False)
        for key in schema.get("required", []):
            if key not in value and key not in LATE_REQUIRED.get(path, ()):
                self.problems.add(f"{'.'.join(path)}: required {key} missing")
        for key, item in value.items():
            if key in properties:
                self.walk(item, properties[key], (*path, key))
            elif isinstance(extra, dict):
                self.walk(item, extra, (*path, "<key>"))
            elif extra is not True and (*path, key) not in self.novel:
                self.problems.add(f"{'.'.join((*path, key))}: not in the schema")


def test_two_thousand_generated_events_fit_the_v3_schema(schemas):
    population = Population(seed=3)
    walker = Walker(schemas)
    for _, rid in population.day_events(date(2026, 10, 1)):
        walker.walk(population.event_v3(rid), {"$ref": "#/components/schemas/EventsGetResponse"}, ())
    assert sorted(walker.problems) == []


def test_the_walker_notices_keys_types_and_required_fields_outside_the_schema(schemas):
    walker = Walker(schemas)
    bad = {"products": {"vpn": {"data": {"result": "yes", "surprise": 1}}, "tor": {"data": {}}}}
    walker.walk(bad, {"$ref": "#/components/schemas/EventsGetResponse"}, ())
    assert any("products.vpn.data.result: str is not boolean" in p for p in walker.problems)
    assert any("surprise: not in the schema" in p for p in walker.problems)
    assert any("products.tor.data: required result missing" in p for p in walker.problems)


SCHEMA_V4 = SCHEMA_FILE.parent / "v4" / "components" / "schemas"


class WalkerV4(Walker):
    """The same structural walk over the v4 schema, whose `$ref`s name YAML files relative to the referrer;
    it also checks each Event field against its `x-platforms` (v4 omits what does not apply)."""

    def __init__(self) -> None:
        super().__init__({})
        from simulator.events_v4 import NOVELTIES_V4

        self.novel = set(NOVELTIES_V4.values())
        self.files: dict[Path, Any] = {}

    def load(self, path: Path) -> dict[str, Any]:
        if path not in self.files:
            schema = yaml.safe_load(path.read_text())
            self.files[path] = self.anchor(schema, path.parent)
        return self.files[path]

    def anchor(self, node: Any, folder: Path) -> Any:
        """Rewrite every relative `$ref` below `node` to an absolute path, once per file."""
        if isinstance(node, dict):
            out = {k: self.anchor(v, folder) for k, v in node.items()}
            if isinstance(node.get("$ref"), str):
                out["$ref"] = str((folder / node["$ref"]).resolve())
            return out
        if isinstance(node, list):
            return [self.anchor(v, folder) for v in node]
        return node

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            extra = {k: v for k, v in schema.items() if k not in ("$ref", "description", "x-platforms")}
            schema = {**self.load(Path(schema["$ref"])), **extra}
        if "oneOf" in schema:  # rule_action: allow or block, told apart by `type`; walk as their union
            variants = [self.resolve(v) for v in schema["oneOf"]]
            properties = {k: v for variant in variants for k, v in variant.get("properties", {}).items()}
            schema = {**schema, "properties": {**schema.get("properties", {}), **properties}}
            schema.pop("oneOf")
        return schema


def test_two_thousand_generated_v4_events_fit_the_v4_schema_and_its_platforms():
    if not SCHEMA_V4.is_dir():
        pytest.skip("../shared not present")
    population = Population(seed=3)
    walker = WalkerV4()
    event_schema = walker.load(SCHEMA_V4 / "Event.yaml")
    platforms = {k: v.get("x-platforms") for k, v in event_schema["properties"].items()}
    for _, rid in population.day_events(date(2026, 10, 1)):
        event = population.event_v4(rid)
        walker.walk(event, event_schema, ())
        platform = {"js": "browser"}.get(event.get("sdk", {}).get("platform"), event.get("sdk", {}).get("platform"))
        for key in event:
            if platform and platforms.get(key) and platform not in platforms[key]:
                walker.problems.add(f"{key}: not sent on {platform}")
    assert sorted(walker.problems) == []
