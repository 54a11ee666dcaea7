"""The simulator's Update API over real HTTP: v3 `PUT /events/{id}`, v4 `PATCH /v4/events/{id}`, their limits."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import requests

from simulator.population import day_start_ms

DAY = date(2026, 11, 22)
NOW_MS = day_start_ms(DAY + timedelta(days=1)) + 3_600_000  # one hour into the next day
V4_AUTH = "Authorization"


def event_id(sim, day=DAY, index=0) -> str:
    return sim.population.day_events(day)[index][1]


def identification(sim, request_id) -> dict:
    answer = requests.get(f"{sim.url}/events/{request_id}", headers={"Auth-API-Key": sim.api_key}, timeout=5)
    assert answer.status_code == 200
    return answer.json()["products"]["identification"]["data"]


def v4_event(sim, request_id) -> dict:
    headers = {V4_AUTH: f"Bearer {sim.api_key}"}
    return requests.get(f"{sim.url}/v4/events/{request_id}", headers=headers, timeout=5).json()


def searched(sim, request_id, version=3) -> dict:
    ts = sim.population.timestamp_ms(request_id)
    params = {"limit": 100, "start": ts - 1, "end": ts + 1}
    if version == 3:
        page = requests.get(f"{sim.url}/events/search", params=params, headers={"Auth-API-Key": sim.api_key})
        events = page.json()["events"]
        return next(e for e in events if e["products"]["identification"]["data"]["requestId"] == request_id)
    page = requests.get(f"{sim.url}/v4/events", params=params, headers={V4_AUTH: f"Bearer {sim.api_key}"})
    return next(e for e in page.json()["events"] if e["event_id"] == request_id)


def test_a_v3_update_changes_the_event_in_both_versions_by_id_and_in_the_search(simulator, update_event):
    sim = simulator(now_ms=NOW_MS)
    rid = event_id(sim)
    answer = update_event(sim, rid, {"linkedId": "acct-42", "tag": {"case": "fraud-7"}, "suspect": True})
    assert answer.status_code == 200 and answer.json() == {}
    data = identification(sim, rid)
    assert (data["linkedId"], data["tag"], data["suspect"]) == ("acct-42", {"case": "fraud-7"}, True)
    v4 = v4_event(sim, rid)
    assert (v4["linked_id"], v4["tags"], v4["suspect"]) == ("acct-42", {"case": "fraud-7"}, True)
    assert searched(sim, rid)["products"]["identification"]["data"] == data
    assert searched(sim, rid, version=4) == v4
    assert sim.stats()["by_kind"]["update"] == 1


def test_a_v4_patch_changes_only_the_fields_it_sends(simulator, update_event):
    sim = simulator(now_ms=NOW_MS)
    rid = event_id(sim)
    before = v4_event(sim, rid)
    assert update_event(sim, rid, {"suspect": True}, version=4).status_code == 200
    after = v4_event(sim, rid)
    assert after["suspect"] is True
    assert {k: v for k, v in after.items() if k != "suspect"} == {k: v for k, v in before.items() if k != "suspect"}


def test_botd_copies_follow_the_updated_linked_id_and_tag(simulator, update_event):
    sim = simulator(now_ms=NOW_MS)
    headers = {"Auth-API-Key": sim.api_key}
    for _, rid in sim.population.day_events(DAY)[:200]:
        botd = requests.get(f"{sim.url}/events/{rid}", headers=headers).json()["products"].get("botd", {})
        data = botd.get("data", {})
        if "meta" in data and "linkedId" in data:
            break
    else:
        pytest.fail("no event with botd copies of the tag and the linked ID among the first 200")
    update_event(sim, rid, {"linkedId": "acct-9", "tag": {"k": "v"}})
    data = requests.get(f"{sim.url}/events/{rid}", headers=headers).json()["products"]["botd"]["data"]
    assert (data["linkedId"], data["meta"]) == ("acct-9", {"k": "v"})


@pytest.mark.parametrize(
    ("version", "body", "message"),
    [
        (3, {"linkedId": 42}, "request body is not valid"),
        (3, {"tag": "not an object"}, "request body is not valid"),
        (3, {"suspect": "yes"}, "request body is not valid"),
        (3, {}, "request body is not valid"),
        (3, [1, 2], "request body is not valid"),
        (3, {"linkedId": "x" * 257}, "linked_id can't be greater than 256 characters long"),
        (4, {"linkedId": "v3 spelling"}, "request body is not valid"),
        (4, {"tags": [1]}, "request body is not valid"),
        (4, {"linked_id": "x" * 257}, "linked_id can't be greater than 256 characters long"),
    ],
)
def test_a_bad_body_is_a_400_and_changes_nothing(simulator, update_event, version, body, message):
    sim = simulator(now_ms=NOW_MS)
    rid = event_id(sim)
    before = v4_event(sim, rid)
    answer = update_event(sim, rid, body, version=version)
    code = "RequestCannotBeParsed" if version == 3 else "request_cannot_be_parsed"
    assert answer.status_code == 400 and answer.json() == {"error": {"code": code, "message": message}}
    assert v4_event(sim, rid) == before


def test_a_body_that_is_not_json_is_a_400(simulator):
    sim = simulator(now_ms=NOW_MS)
    answer = requests.put(
        f"{sim.url}/events/{event_id(sim)}", data=b"{not json", headers={"Auth-API-Key": sim.api_key}, timeout=5
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "RequestCannotBeParsed"


def test_the_400_bodies_match_the_official_examples(simulator, update_event, shared_examples):
    sim = simulator(now_ms=NOW_MS)
    for version, folder in ((3, "v3"), (4, "v4")):
        errors = shared_examples / folder / "errors"
        field = "linkedId" if version == 3 else "linked_id"
        invalid = update_event(sim, event_id(sim), {field: 1}, version=version).json()
        too_long = update_event(sim, event_id(sim), {field: "x" * 300}, version=version).json()
        assert invalid == json.loads((errors / "400_request_body_invalid.json").read_text())
        assert too_long == json.loads((errors / "400_linked_id_invalid.json").read_text())


def test_the_official_update_request_examples_are_accepted(simulator, update_event, shared_examples):
    sim = simulator(now_ms=NOW_MS)
    for version, folder in ((3, shared_examples / "v3"), (4, shared_examples / "v4" / "events")):
        for example in sorted(folder.glob("update_event_*_request.json")):
            body = json.loads(example.read_text())
            assert update_event(sim, event_id(sim), body, version=version).status_code == 200, example.name


def test_unknown_deleted_and_expired_events_are_a_404(simulator, update_event, delete_upstream):
    sim = simulator(now_ms=NOW_MS)
    unknown = "1700000000000.abcdef"
    assert update_event(sim, unknown, {"suspect": True}).json()["error"]["code"] == "RequestNotFound"
    rid = event_id(sim)
    delete_upstream(sim, [rid])
    assert update_event(sim, rid, {"suspect": True}).status_code == 404
    v4 = update_event(sim, rid, {"suspect": True}, version=4)
    assert v4.status_code == 404 and v4.json()["error"]["code"] == "event_not_found"
    expired = event_id(sim, DAY - timedelta(days=40))
    assert update_event(sim, expired, {"suspect": True}, version=4).status_code == 404


def test_a_deleted_event_is_gone_by_id_and_from_the_search(simulator, delete_upstream):
    sim = simulator(now_ms=NOW_MS)
    rid = event_id(sim, index=3)
    delete_upstream(sim, [rid])
    assert requests.get(f"{sim.url}/events/{rid}", headers={"Auth-API-Key": sim.api_key}).status_code == 404
    ts = sim.population.timestamp_ms(rid)
    params = {"limit": 200, "start": ts - 60_000, "end": ts + 60_000}
    page = requests.get(f"{sim.url}/events/search", params=params, headers={"Auth-API-Key": sim.api_key}).json()
    ids = {e["products"]["identification"]["data"]["requestId"] for e in page["events"]}
    assert ids and rid not in ids


def test_v3_refuses_events_older_than_10_days_and_v4_older_than_a_month(simulator, update_event):
    sim = simulator(now_ms=NOW_MS, retention_days=90)
    nine, eleven, thirty_three = (event_id(sim, DAY - timedelta(days=n)) for n in (8, 10, 32))
    assert update_event(sim, nine, {"suspect": True}).status_code == 200
    refused = update_event(sim, eleven, {"suspect": True})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "code": "RequestCannotBeParsed",
            "message": "event is older than 10 days and can no longer be updated",
        }
    }
    assert update_event(sim, eleven, {"suspect": True}, version=4).status_code == 200
    too_old = update_event(sim, thirty_three, {"suspect": True}, version=4)
    assert too_old.status_code == 400 and too_old.json()["error"]["code"] == "request_cannot_be_parsed"
    assert "one month" in too_old.json()["error"]["message"]
    assert identification(sim, eleven).get("suspect") is True  # the v4 update; the v3 one changed nothing


def test_an_update_right_after_creation_can_be_a_409_state_not_ready(simulator, update_event, shared_examples):
    sim = simulator(now_ms=NOW_MS, update_not_ready_ms=3_600_000)
    young = sim.population.day_events(DAY + timedelta(days=1))[0][1]  # within the hour before the clock
    assert sim.population.timestamp_ms(young) > NOW_MS - 3_600_000
    for version, folder in ((3, "v3"), (4, "v4")):
        answer = update_event(sim, young, {"suspect": True}, version=version)
        expected = json.loads((shared_examples / folder / "errors" / "409_state_not_ready.json").read_text())
        assert answer.status_code == 409 and answer.json() == expected
    assert update_event(sim, event_id(sim), {"suspect": True}).status_code == 200


def test_updates_need_the_key_like_every_api_call(simulator):
    sim = simulator(now_ms=NOW_MS)
    rid = event_id(sim)
    v3 = requests.put(f"{sim.url}/events/{rid}", json={"suspect": True}, timeout=5)
    v4 = requests.patch(f"{sim.url}/v4/events/{rid}", json={"suspect": True}, headers={V4_AUTH: "Bearer wrong"})
    assert v3.status_code == v4.status_code == 403
    assert v3.json()["error"]["code"] == "TokenRequired"
    assert v4.json()["error"]["code"] == "secret_api_key_not_found"
    assert "suspect" not in identification(sim, rid)
