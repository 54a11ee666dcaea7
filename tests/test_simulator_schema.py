"""Everything the simulator answers validates against the official OpenAPI schemas of Server API v3 and v4.

A hypothesis property sweeps seeds, traffic, days, API versions and fault knobs and sends a running simulator, over
real HTTP, the requests a client can send: get-event on issued, unknown, expired, future and malformed IDs, search
pages followed by their pagination key, an invalid search, a missing and a wrong key, bursts over a rate limit.
Every answer must be either a body that the schema of its operation and status accepts, or a fault the simulator
counts as injected (a dropped connection, a truncated body, a gateway's canned 5xx): the two tallies must agree.

The validator is `openapi-schema-validator` (OpenAPI 3.0 with `nullable` for the bundled v3 file; OpenAPI 3.1 =
JSON Schema 2020-12 for v4), with `referencing` resolving `$ref`s inside the v3 file and between the split v4 files;
formats (`date-time`, `ipv4`, `int32`, ...) are asserted. Two rules the validator cannot know are added:
- unknown fields: the schemas forbid them (`additionalProperties: false`), but the real API adds fields without
  notice (the official `*_unknown_field*.json` examples), so the simulator plants some on purpose. Exactly the
  field planted in that event (`Population.unknown_field`) is allowed, nowhere else;
- v4 `x-platforms`: a field the schema lists only for other platforms must be absent; the event's platform is the
  simulator's ground truth, not read from the body.
Bodies replayed from `recorded_dir` are the user's files, served verbatim, and are not the simulator's to check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import orjson
import pytest
import requests
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import ValidationError
from openapi_schema_validator import OAS30Validator, OAS31Validator, oas30_format_checker, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from simulator.config import TRUNCATE_MODES
from simulator.facts import NOVELTIES
from simulator.faults import SERVER_ERRORS
from simulator.population import Population, day_start_ms
from simulator.server import SimulatorConfig, SimulatorHandle, start

SCHEMA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fingerprint-api" / "schema"
ROOT_DOCUMENTS = {3: SCHEMA_DIR / "server-api-v3.yaml", 4: SCHEMA_DIR / "v4" / "fingerprint-server-api-v4.yaml"}
OPERATIONS = {
    (3, "event"): "/events/{request_id}",
    (3, "search"): "/events/search",
    (4, "event"): "/events/{event_id}",
    (4, "search"): "/events",
}
URL_PATHS = {
    (3, "event"): "/events/",
    (3, "search"): "/events/search",
    (4, "event"): "/v4/events/",
    (4, "search"): "/v4/events",
}
PLATFORMS = {"js": "browser", "android": "android", "ios": "ios"}  # sdk.platform -> the schema's x-platforms name
NOT_ON_THIS_PLATFORM: dict[str, Any] = {"not": {}}
# OpenAPI 3.0 (v3): JSON Schema draft 4 plus `nullable`; OpenAPI 3.1 (v4): JSON Schema 2020-12. Formats asserted.
VALIDATORS = {3: (OAS30Validator, oas30_format_checker, DRAFT4), 4: (OAS31Validator, oas31_format_checker, DRAFT202012)}
GATEWAY_ANSWERS = {(e.status, e.content_type, e.body) for e in SERVER_ERRORS if e.content_type != "application/json"}
DAY_MS = 86_400_000
INVALID_SEARCHES = (  # one 400 per parameter the simulator parses
    "limit=0",
    "limit=5&start=yesterday",
    "limit=5&end=soon",
    "limit=5&reverse=maybe",
    "limit=5&pagination_key=%21%21",
)

pytestmark = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason="../shared not present")


# --- the schemas ----------------------------------------------------------------------------------------------------
def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def only_for(node: Any, platform: str) -> Any:
    """`node` with every property whose `x-platforms` leaves out `platform` replaced by a schema nothing satisfies."""
    if isinstance(node, list):
        return [only_for(item, platform) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: only_for(value, platform) for key, value in node.items()}
    properties = node.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: {**NOT_ON_THIS_PLATFORM, "x-platforms": s["x-platforms"]}
            if isinstance(s, dict) and platform not in s.get("x-platforms", [platform])
            else only_for(s, platform)
            for name, s in properties.items()
        }
    return out


class ApiSchema:
    """The response schemas of one API version's event operations, as validators (one per platform for v4)."""

    def __init__(self, version: int) -> None:
        self.version = version
        root = ROOT_DOCUMENTS[version]
        paths = [root] if version == 3 else sorted(root.parent.rglob("*.yaml"))
        self.documents = {path.as_uri(): load_yaml(path) for path in paths}
        self.root_uri = root.as_uri()
        self._registries: dict[str | None, Registry] = {}
        self._validators: dict[tuple[str, str | None], Any] = {}

    def response_schema(self, kind: str, status: int) -> str:
        """The schema URI the operation declares for `status`; an undeclared status gets the operation's error body.

        v3 declares no 400, 429 or 500 for `getEvent` (API.md 17.1, 17.3): its error bodies there can only be the
        `ErrorResponse` every declared 4xx of the operation uses.
        """
        item_uri, item = self.root_uri, self.documents[self.root_uri]["paths"][OPERATIONS[(self.version, kind)]]
        if "$ref" in item:
            item_uri = urljoin(self.root_uri, item["$ref"])
            item = self.documents[item_uri]
        declared = {
            code: urljoin(item_uri, response["content"]["application/json"]["schema"]["$ref"])
            for code, response in item["get"]["responses"].items()
            if "content" in response
        }
        if str(status) in declared:
            return declared[str(status)]
        (error_body,) = {uri for code, uri in declared.items() if code.startswith("4")}
        return error_body

    def validator(self, schema_uri: str, platform: str | None = None) -> Any:
        key = (schema_uri, platform)
        if key not in self._validators:
            cls, formats, _ = VALIDATORS[self.version]
            self._validators[key] = cls({"$ref": schema_uri}, registry=self._registry(platform), format_checker=formats)
        return self._validators[key]

    def _registry(self, platform: str | None) -> Registry:
        if platform not in self._registries:
            spec = VALIDATORS[self.version][2]
            documents = self.documents.items()
            resources = [(uri, doc if platform is None else only_for(doc, platform)) for uri, doc in documents]
            self._registries[platform] = Registry().with_resources(
                (uri, Resource.from_contents(doc, default_specification=spec)) for uri, doc in resources
            )
        return self._registries[platform]

    def problems(
        self,
        body: Any,
        schema_uri: str,
        platform: str | None = None,
        planted: frozenset[tuple[Any, ...]] = frozenset(),
    ) -> list[str]:
        """Where `body` leaves the schema, except for unknown fields at the `planted` key paths."""
        errors = self.validator(schema_uri, platform).iter_errors(body)
        return [describe(e, platform) for e in errors if not only_planted_unknowns(e, planted)]


def only_planted_unknowns(error: ValidationError, planted: frozenset[tuple[Any, ...]]) -> bool:
    if error.validator != "additionalProperties":
        return False
    known = error.schema.get("properties", {})
    return all((*error.absolute_path, key) in planted for key in error.instance if key not in known)


def describe(error: ValidationError, platform: str | None) -> str:
    where = "/".join(map(str, error.absolute_path)) or "<body>"
    if error.validator == "not" and "x-platforms" in error.schema:
        return f"{where}: sent on {platform}, but the schema lists it for {error.schema['x-platforms']} only"
    return f"{where}: {error.message[:200]}"


@pytest.fixture(scope="module")
def schemas() -> dict[int, ApiSchema]:
    return {3: ApiSchema(3), 4: ApiSchema(4)}


# --- what the simulator is asked ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ask:
    """One API request and the event IDs a 200 answer must describe (None: the ID was never issued)."""

    kind: str  # event | search
    target: str  # the request ID, or the search query string
    key: str | None  # the secret key sent (None: none)
    event_ids: tuple[str, ...] | None = None


@dataclass
class Tally:
    """The answers of one sweep: problems found, and the faults seen from the client side."""

    problems: list[str] = field(default_factory=list)
    dropped: int = 0
    truncated: int = 0
    server_errors: int = 0
    checked: dict[int, int] = field(default_factory=dict)  # status -> schema-checked bodies


def issued_ids(population: Population, day: date, count: int) -> list[str]:
    ids = [rid for _, rid in population.day_events(day)]
    return ids[:: max(1, len(ids) // count)][:count]


def event_asks(sim: SimulatorHandle, day: date) -> Iterator[Ask]:
    population, key = sim.population, sim.api_key
    for rid in issued_ids(population, day, 12):
        yield Ask("event", rid, key, (rid,))
    for other in (day - timedelta(days=40), day + timedelta(days=3)):  # expired (or kept forever), and future
        rid = issued_ids(population, other, 1)[0]
        yield Ask("event", rid, key, (rid,))
    never = f"{day_start_ms(day) + 1}.zzzzzz"
    yield Ask("event", never, key, (never,) if population.exists(never) else None)
    yield Ask("event", "not-a-request-id", key)
    first = issued_ids(population, day, 1)[0]
    yield Ask("event", first, None, (first,))
    yield Ask("event", first, key + "-wrong", (first,))


def search_query(day: date, limit: int, pagination_key: str | None) -> str:
    params = {"limit": limit, "start": day_start_ms(day) - 1, "end": day_start_ms(day) + DAY_MS}
    if pagination_key is not None:
        params["pagination_key"] = pagination_key
    return urlencode(params)


# --- checking the answers -------------------------------------------------------------------------------------------
def send(sim: SimulatorHandle, version: int, ask: Ask) -> requests.Response | str:
    """The answer, or `dropped` / `truncated` when the connection ended before a whole answer arrived.

    Each request has a connection of its own, so a connection the simulator closed on purpose is never reused.
    """
    path = URL_PATHS[(version, ask.kind)] + (ask.target if ask.kind == "event" else "")
    query = ask.target if ask.kind == "search" else ""
    headers = {}
    if ask.key is not None:
        headers.update({"Auth-API-Key": ask.key} if version == 3 else {"Authorization": f"Bearer {ask.key}"})
    try:
        return requests.get(f"{sim.url}{path}?{query}", headers=headers, timeout=30)
    except requests.exceptions.ChunkedEncodingError:
        return "truncated"  # a short body: the full Content-Length announced, half sent, connection closed
    except requests.ConnectionError:
        return "dropped"


def check(answer: requests.Response | str, ask: Ask, sim: SimulatorHandle, schema: ApiSchema, tally: Tally) -> Any:
    """Validate one answer into `tally`; returns the parsed body of a 200 (None otherwise)."""
    if isinstance(answer, str):
        setattr(tally, answer, getattr(tally, answer) + 1)
        return None
    status, content_type = answer.status_code, answer.headers.get("Content-Type", "")
    if content_type != "application/json":
        known = (status, content_type, answer.content) in GATEWAY_ANSWERS
        tally.server_errors += known
        if not known:
            tally.problems.append(f"{ask.kind} {ask.target}: {status} {content_type} is no API answer")
        return None
    tally.server_errors += status >= 500
    try:
        body = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        tally.truncated += 1  # cut-json: a complete HTTP message holding half a JSON document
        return None
    tally.checked[status] = tally.checked.get(status, 0) + 1
    ids = ask.event_ids if status == 200 else None
    unknown = planted(sim.population, schema.version, ask.kind, ids or ())
    problems = schema.problems(body, schema.response_schema(ask.kind, status), planted=unknown)
    if status == 200 and schema.version == 4:
        problems += platform_problems(sim.population, schema, body, ask.kind, ids or ())
    tally.problems += [f"v{schema.version} {ask.kind} {ask.target} {status}: {p}" for p in problems]
    return body if status == 200 else None


def planted(population: Population, version: int, kind: str, ids: tuple[str, ...]) -> frozenset[tuple[Any, ...]]:
    """The key paths of the unknown fields planted in an event body (`kind` event) or a search page (`search`)."""
    paths = set()
    for index, rid in enumerate(ids):
        path = population.unknown_field(rid, version) if population.exists(rid) else None
        if path is not None:
            paths.add(path if kind == "event" else ("events", index, *path))
    return frozenset(paths)


def platform_problems(
    population: Population, schema: ApiSchema, body: Any, kind: str, ids: tuple[str, ...]
) -> list[str]:
    """Each v4 event against the Event schema of its device's platform (fields of other platforms must be absent)."""
    events = [body] if kind == "event" else body.get("events", [])
    if len(events) != len(ids):
        return [f"{len(events)} events where the simulator's search selects {len(ids)}"]
    event_schema = urljoin(schema.root_uri, "components/schemas/Event.yaml")
    problems = []
    for event, rid in zip(events, ids, strict=True):
        if event.get("event_id") != rid:
            problems.append(f"event_id {event.get('event_id')} where {rid} was expected")
            continue
        platform = PLATFORMS[population.facts(rid).device.platform]
        problems += schema.problems(event, event_schema, platform, planted(population, 4, "event", (rid,)))
    return problems


def sweep(sim: SimulatorHandle, schema: ApiSchema, day: date, limit: int) -> Tally:
    """Every kind of request, once or more, against `sim`; two search pages, the second by pagination key."""
    tally, version = Tally(), schema.version
    for ask in event_asks(sim, day):
        check(send(sim, version, ask), ask, sim, schema, tally)
    key = None
    for _ in range(2):
        query = search_query(day, limit, key)
        ask = Ask("search", query, sim.api_key, sim.page_ids(version, query))
        body = check(send(sim, version, ask), ask, sim, schema, tally)
        key = (body or {}).get("paginationKey" if version == 3 else "pagination_key")
        if key is None:
            break
    for query in INVALID_SEARCHES:
        invalid = Ask("search", query, sim.api_key)
        check(send(sim, version, invalid), invalid, sim, schema, tally)
    return tally


# --- the properties -------------------------------------------------------------------------------------------------
RATES = st.sampled_from((0.0, 0.0, 0.05, 0.2, 0.3))


@st.composite
def simulators(draw: st.DrawFn) -> tuple[SimulatorConfig, date, int, int]:
    """(config, day, API version, search page size): any seed, traffic, day, clock, retention and faults."""
    day = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    config = SimulatorConfig(
        seed=draw(st.integers(0, 2**32 - 1)),
        events_per_day=draw(st.integers(1, 600)),
        now_ms=day_start_ms(day) + DAY_MS + draw(st.integers(0, 2 * DAY_MS)),
        retention_days=draw(st.none() | st.integers(1, 90)),
        fail_5xx_rate=draw(RATES),
        drop_rate=draw(RATES),
        truncate_rate=draw(RATES),
        truncate_mode=draw(st.sampled_from(TRUNCATE_MODES)),
        throttle_in_200_rate=draw(st.sampled_from((0.0, 0.5, 1.0))),
        rps_limit=draw(st.none() | st.floats(0.5, 20)),
        rps_burst=draw(st.none() | st.integers(1, 5)),
    )
    return config, day, draw(st.sampled_from((3, 4))), draw(st.integers(1, 30))


BUSY_DAY = SimulatorConfig(seed=5, events_per_day=400, now_ms=day_start_ms(date(2026, 10, 2)))
FAULTY = SimulatorConfig(
    seed=9, now_ms=BUSY_DAY.now_ms, fail_5xx_rate=0.3, drop_rate=0.2, truncate_rate=0.3, truncate_mode="cut-json"
)
THROTTLED = SimulatorConfig(seed=2, now_ms=BUSY_DAY.now_ms, rps_limit=1.0, rps_burst=3, throttle_in_200_rate=1.0)


@settings(max_examples=30, deadline=None)
@given(simulators())
@example((BUSY_DAY, date(2026, 10, 1), 3, 30))
@example((BUSY_DAY, date(2026, 10, 1), 4, 30))
@example((FAULTY, date(2026, 10, 1), 3, 10))
@example((FAULTY, date(2026, 10, 1), 4, 10))
@example((THROTTLED, date(2026, 10, 1), 3, 10))
def test_every_answer_fits_its_operation_schema_or_is_a_fault_the_simulator_counted(schemas, drawn):
    config, day, version, limit = drawn
    with start(config) as sim:
        tally = sweep(sim, schemas[version], day, limit)
        faults = sim.stats()["faults"]
    assert tally.problems == []
    assert (tally.dropped, tally.truncated, tally.server_errors) == (
        faults["drop"],
        faults["truncate"],
        faults["server_error"],
    )
    assert sum(tally.checked.values()) > 0 or faults["drop"] + faults["truncate"] + faults["server_error"] > 0


def sampled_events(population: Population, days: list[date]) -> Iterator[str]:
    """Every fifth event of the days, and every event that carries a planted unknown field (1 %)."""
    for day in days:
        for index, (_, rid) in enumerate(population.day_events(day)):
            if index % 5 == 0 or population.facts(rid).novelty is not None:
                yield rid


def test_events_of_many_days_fit_both_schemas_with_nothing_unknown_but_their_planted_field(schemas):
    seen: dict[str, set[str]] = {"platform": set(), "unknown": set(), "failed": set()}
    problems: list[str] = []
    for seed in (1, 2, 3):
        population = Population(seed, events_per_day=400)
        for rid in sampled_events(population, [date(2026, 10, 1), date(2027, 2, 14)]):
            facts = population.facts(rid)
            platform = PLATFORMS[facts.device.platform]
            seen["platform"].add(platform)
            seen["failed"] |= facts.failed_products
            bodies = {3: population.event_v3(rid), 4: population.event_v4(rid)}
            for version, body in bodies.items():
                path = population.unknown_field(rid, version)
                if path is not None:
                    seen["unknown"].add(facts.novelty or "")
                    assert has_path(body, path), (rid, version, path)
                uri = schemas[version].response_schema("event", 200)
                found = schemas[version].problems(body, uri, platform if version == 4 else None, planted_at(path))
                problems += [f"v{version} {rid}: {p}" for p in found]
    assert problems == []
    assert seen["platform"] == {"browser", "android", "ios"}
    assert seen["unknown"] == set(NOVELTIES), "every kind of planted unknown field was checked"
    assert {"identification", "botd", "vpn", "tampering", "rawDeviceAttributes"} <= seen["failed"]


def has_path(body: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(body, dict) or key not in body:
            return False
        body = body[key]
    return True


def planted_at(path: tuple[str, ...] | None) -> frozenset[tuple[Any, ...]]:
    return frozenset() if path is None else frozenset({path})


def a_web_event_with(population: Population, products: set[str]) -> str:
    for _, rid in population.day_events(date(2026, 10, 1)):
        facts = population.facts(rid)
        missing = products & (facts.absent_products | facts.failed_products)
        if facts.device.platform == "js" and not missing and facts.novelty is None:
            return rid
    raise AssertionError(f"no web event with {products} on the day")


CHECKED_PRODUCTS = {"identification", "botd", "tampering", "proxy", "ipInfo", "vpn"}


def test_the_check_rejects_unknown_fields_missing_required_ones_bad_enums_formats_and_nulls(schemas):
    population = Population(3, events_per_day=300)
    body = population.event_v3(a_web_event_with(population, CHECKED_PRODUCTS))
    products = body["products"]
    products["identification"]["data"]["newSignal"] = {"score": 1}  # planted below
    products["botd"]["data"]["newSignal"] = {"score": 1}  # not planted
    del products["tampering"]["data"]["confidence"]
    products["proxy"]["data"]["confidence"] = "certain"
    products["identification"]["data"]["time"] = "yesterday"
    products["ipInfo"]["data"]["v4"]["address"] = "not-an-ip"
    products["identification"]["data"]["lastSeenAt"]["global"] = None  # nullable: fine
    products["identification"]["data"]["url"] = None
    allowed = frozenset({("products", "identification", "data", "newSignal")})

    problems = schemas[3].problems(body, schemas[3].response_schema("event", 200), planted=allowed)

    assert sorted({p.split(":")[0] for p in problems}) == [
        "products/botd/data",
        "products/identification/data/time",
        "products/identification/data/url",
        "products/ipInfo/data/v4/address",
        "products/proxy/data/confidence",
        "products/tampering/data",
    ]
    assert any("'confidence' is a required property" in p for p in problems)


def test_the_v4_check_rejects_a_field_the_schema_keeps_for_other_platforms(schemas):
    population = Population(3, events_per_day=300)
    body = population.event_v4(a_web_event_with(population, CHECKED_PRODUCTS))
    uri = schemas[4].response_schema("event", 200)
    assert schemas[4].problems(body, uri, "browser") == []

    body["root_apps"] = False
    body["vpn_methods"]["os_mismatch"] = False  # browser-only: fine here

    assert schemas[4].problems(body, uri, "browser") == [
        "root_apps: sent on browser, but the schema lists it for ['android'] only"
    ]
    assert schemas[4].problems(body, uri) == [], "without a platform, only the structure is checked"
    android = schemas[4].problems(body, uri, "android")
    assert "vpn_methods/os_mismatch: sent on android, but the schema lists it for ['browser'] only" in android
