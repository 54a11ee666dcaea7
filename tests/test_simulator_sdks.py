"""The official Fingerprint Python SDKs read everything the simulator serves, field for field.

`fingerprint-pro-server-api-sdk` (Server API v3) and `fingerprint-server-sdk` (v4) are clients of a running simulator
(host = its URL, key = its key). They fetch every event of several seeds and days, degraded events with product
errors and events carrying a planted unknown field among them, and a few search pages each. A deserialization
error fails the test, and so does any field the SDK reads differently from what was served: the SDK's object,
written back as JSON, must equal the served body without its planted unknown field (the SDKs drop unknown fields,
which is the tolerance a client needs), `null` counting as absent and date-times compared as instants.

Error answers (403 for a missing and a wrong key, 404, 429, 400, and v3's throttle inside a 200) must reach each
SDK as the documented bodies: the official examples in `../shared/fingerprint-api/examples`.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from simulator.population import Population, day_start_ms
from simulator.server import SimulatorConfig, SimulatorHandle, start

with warnings.catch_warnings():  # the v3 SDK warns on import that v3 is deprecated, which we know
    warnings.simplefilter("ignore", DeprecationWarning)
    import fingerprint_pro_server_api_sdk as sdk3
    from fingerprint_pro_server_api_sdk.api_client import ApiClient as ApiClient3
    from fingerprint_pro_server_api_sdk.rest import KnownApiException
import fingerprint_server_sdk as sdk4

SEEDS = (1, 2, 3)
DAYS = (date(2026, 10, 1), date(2026, 10, 2))
EVENTS_PER_DAY = 70
NOW_MS = day_start_ms(date(2026, 10, 4))
Reader = Callable[[str], Any]
# the v3 SDK's models warn on every instance that v3 is deprecated, which we know
pytestmark = pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning")


# --- clients of a simulator -----------------------------------------------------------------------------------------
def v3_client(sim: SimulatorHandle, key: str | None = None) -> sdk3.FingerprintApi:
    configuration = sdk3.Configuration(api_key=sim.api_key if key is None else key)
    configuration.host = sim.url
    return sdk3.FingerprintApi(configuration)


def v4_client(sim: SimulatorHandle, key: str | None = None, retries: int | None = None) -> sdk4.FingerprintApi:
    """A v4 SDK client of `sim`; `retries=0` turns off urllib3's retries (by default 3, honouring `Retry-After`)."""
    key = sim.api_key if key is None else key
    return sdk4.FingerprintApi(sdk4.Configuration(api_key=key, host=f"{sim.url}/v4", retries=retries))


def as_json_v3(model: Any) -> Any:
    """The v3 SDK's object written back with the JSON names it read them from."""
    return ApiClient3(sdk3.Configuration(api_key="unused")).sanitize_for_serialization(model)


def as_json_v4(model: Any) -> Any:
    return model.to_dict()


@pytest.fixture(scope="module")
def simulators() -> Iterator[list[SimulatorHandle]]:
    handles = [start(SimulatorConfig(seed=s, events_per_day=EVENTS_PER_DAY, now_ms=NOW_MS)) for s in SEEDS]
    yield handles
    for handle in handles:
        handle.stop()


# --- comparing what was read with what was served -------------------------------------------------------------------
def differences(read: Any, served: Any, path: str = "") -> list[str]:
    """Where the SDK's JSON view `read` differs from the `served` JSON (null = absent; date-times as instants)."""
    if isinstance(read, dict) and isinstance(served, dict):
        keys = sorted(read.keys() | served.keys())
        return [
            d
            for k in keys
            if (read.get(k), served.get(k)) != (None, None)
            for d in differences(read.get(k), served.get(k), f"{path}/{k}")
        ]
    if isinstance(read, list) and isinstance(served, list) and len(read) == len(served):
        return [d for i, (r, s) in enumerate(zip(read, served, strict=True)) for d in differences(r, s, f"{path}/{i}")]
    if (read == served and isinstance(read, bool) == isinstance(served, bool)) or same_instant(read, served):
        return []
    return [f"{path or '<body>'}: read {read!r:.80}, served {served!r:.80}"]


def same_instant(read: Any, served: Any) -> bool:
    if not (isinstance(read, str) and isinstance(served, str)):
        return False
    try:
        return datetime.fromisoformat(read) == datetime.fromisoformat(served)
    except ValueError:
        return False


def without(body: dict[str, Any], path: tuple[str, ...] | None) -> dict[str, Any]:
    """`body` without the key at `path` (a copy; unchanged when `path` is None)."""
    if path is None:
        return body
    body = copy.deepcopy(body)
    *parents, name = path
    target = body
    for key in parents:
        target = target[key]
    del target[name]
    return body


def day_ids(population: Population) -> list[str]:
    return [rid for day in DAYS for _, rid in population.day_events(day)]


# --- events and search pages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [3, 4])
def test_the_official_sdk_reads_every_event_field_for_field_and_tolerates_the_planted_unknown_fields(
    simulators, version
):
    read_back, problems = 0, []
    degraded, unknown = 0, set()
    for sim in simulators:
        population = sim.population
        read = read_v3_event(sim) if version == 3 else read_v4_event(sim)
        for rid in day_ids(population):
            served = population.event_v3(rid) if version == 3 else population.event_v4(rid)
            planted = population.unknown_field(rid, version)
            problems += [f"{rid} {d}" for d in differences(read(rid), without(served, planted))]
            read_back += 1
            degraded += bool(population.facts(rid).failed_products)
            unknown |= {population.facts(rid).novelty} - {None}
    assert problems == []
    assert read_back == len(SEEDS) * len(DAYS) * EVENTS_PER_DAY
    assert degraded >= 10, "events with product errors were among those read"
    assert len(unknown) >= 2, "events with planted unknown fields were among those read"


def read_v3_event(sim: SimulatorHandle) -> Reader:
    api = v3_client(sim)
    return lambda rid: as_json_v3(api.get_event(rid))


def read_v4_event(sim: SimulatorHandle) -> Reader:
    api = v4_client(sim)
    return lambda rid: as_json_v4(api.get_event(rid))


@pytest.mark.parametrize("version", [3, 4])
def test_the_official_sdk_reads_search_pages_event_for_event_and_follows_their_pagination_key(simulators, version):
    sim = simulators[0]
    start_ms, end_ms = day_start_ms(DAYS[0]) - 1, day_start_ms(DAYS[-1]) + 86_400_000
    key, seen, problems = None, [], []
    for _ in range(3):
        page, query = search_page(sim, version, start_ms, end_ms, key)
        expected = sim.page_ids(version, query)
        served = [sim.population.event_v3(r) if version == 3 else sim.population.event_v4(r) for r in expected]
        planted = [sim.population.unknown_field(r, version) for r in expected]
        events = page["events"]
        assert len(events) == len(expected) == 25
        for rid, read, body, path in zip(expected, events, served, planted, strict=True):
            problems += [f"{rid} {d}" for d in differences(read, without(body, path))]
        seen += expected
        key = page.get("paginationKey" if version == 3 else "pagination_key")
    assert problems == []
    assert len(set(seen)) == 75, "three pages, no event twice"
    assert key is not None


def search_page(
    sim: SimulatorHandle, version: int, start_ms: int, end_ms: int, key: str | None
) -> tuple[dict[str, Any], str]:
    """One page of 25 read by the SDK, as JSON, and the search's parameters as a query string."""
    params: dict[str, Any] = {"limit": 25, "start": start_ms, "end": end_ms}
    if key is not None:
        params["pagination_key"] = key
    if version == 3:
        page = as_json_v3(v3_client(sim).search_events(**params))
    else:
        page = as_json_v4(v4_client(sim).search_events(**params))
    return page, urlencode(params)


# --- error answers --------------------------------------------------------------------------------------------------
def example(shared: Path, version: int, name: str) -> Any:
    return json.loads((shared / f"v{version}" / "errors" / name).read_text())


def v3_error(call: Callable[[], Any]) -> tuple[int, Any]:
    with pytest.raises(KnownApiException) as raised:
        call()
    return raised.value.status, as_json_v3(raised.value.structured_error)


def v4_error(call: Callable[[], Any]) -> tuple[int, Any]:
    with pytest.raises(sdk4.ApiException) as raised:
        call()
    return raised.value.status, as_json_v4(raised.value.data)


def test_the_v3_sdk_reads_the_documented_error_bodies(shared_examples, simulator):
    sim = simulator(seed=1, events_per_day=EVENTS_PER_DAY, now_ms=NOW_MS)
    rid = day_ids(sim.population)[0]
    never = f"{day_start_ms(DAYS[0]) + 1}.zzzzzz"

    assert v3_error(lambda: v3_client(sim, "").get_event(rid)) == (
        403,
        example(shared_examples, 3, "403_token_required.json"),
    )
    assert v3_error(lambda: v3_client(sim, "wrong").get_event(rid)) == (
        403,
        example(shared_examples, 3, "403_token_not_found.json"),
    )
    assert v3_error(lambda: v3_client(sim).get_event(never)) == (
        404,
        example(shared_examples, 3, "404_request_not_found.json"),
    )
    assert v3_error(lambda: v3_client(sim).search_events(0)) == (
        400,
        example(shared_examples, 3, "400_limit_invalid.json"),
    )


def test_the_v3_sdk_reads_a_throttle_as_a_429_or_as_the_documented_200_with_product_errors(shared_examples, simulator):
    limited = simulator(seed=1, events_per_day=EVENTS_PER_DAY, now_ms=NOW_MS, rps_limit=0.001, rps_burst=1)
    rid = day_ids(limited.population)[0]
    api = v3_client(limited)  # its urllib3 retries a 429 three times, honouring `Retry-After: 1` (3 s)
    api.get_event(rid)  # spends the only token
    with pytest.raises(KnownApiException) as raised:
        api.get_event(rid)
    assert (raised.value.status, as_json_v3(raised.value.structured_error)) == (
        429,
        example(shared_examples, 3, "429_too_many_requests.json"),
    )
    assert raised.value.structured_error.retry_after == 1

    in_200 = simulator(seed=1, now_ms=NOW_MS, rps_limit=0.001, rps_burst=1, throttle_in_200_rate=1.0)
    api = v3_client(in_200)
    api.get_event(rid)
    throttled = as_json_v3(api.get_event(rid))
    documented = json.loads((shared_examples / "v3" / "get_event_200_too_many_requests_error.json").read_text())
    assert throttled == documented


def test_the_v4_sdk_reads_the_documented_error_bodies(shared_examples, simulator):
    sim = simulator(seed=1, events_per_day=EVENTS_PER_DAY, now_ms=NOW_MS)
    rid = day_ids(sim.population)[0]
    never = f"{day_start_ms(DAYS[0]) + 1}.zzzzzz"
    errors = {
        "403_secret_api_key_required.json": lambda: v4_client(sim, "").get_event(rid),
        "403_secret_api_key_not_found.json": lambda: v4_client(sim, "wrong").get_event(rid),
        "404_event_not_found.json": lambda: v4_client(sim).get_event(never),
        "400_event_id_invalid.json": lambda: v4_client(sim).get_event("not-an-event-id"),
    }
    for name, call in errors.items():
        assert v4_error(call) == (int(name[:3]), example(shared_examples, 4, name)), name

    limited = simulator(seed=1, events_per_day=EVENTS_PER_DAY, now_ms=NOW_MS, rps_limit=0.001, rps_burst=1)
    api = v4_client(limited, retries=0)  # by default urllib3 would wait out `Retry-After: 1` three times first
    api.get_event(rid)  # spends the only token
    with pytest.raises(sdk4.TooManyRequestsException) as raised:
        api.get_event(rid)
    assert as_json_v4(raised.value.data) == example(shared_examples, 4, "429_too_many_requests.json")
