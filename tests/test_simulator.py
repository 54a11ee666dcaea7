"""The simulator over real HTTP: what a Server API v3 client can observe."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
import requests

from simulator.population import day_start_ms

DAY = date(2026, 11, 22)
NOW_MS = day_start_ms(DAY + timedelta(days=1)) + 3_600_000  # one hour into the next day
TOO_MANY = {"error": {"code": "TooManyRequests", "message": "too many requests"}}
THROTTLED_IN_200 = {
    "products": {
        "identification": {"error": {"code": "429 Too Many Requests", "message": "too many requests"}},
        "botd": {"error": {"code": "TooManyRequests", "message": "too many requests"}},
    }
}


def get(handle, request_id, session=None, key="default", **kwargs):
    headers = {} if key is None else {"Auth-API-Key": handle.api_key if key == "default" else key}
    return (session or requests).get(f"{handle.url}/events/{request_id}", headers=headers, timeout=5, **kwargs)


def ids(handle, n, day=DAY):
    return [rid for _, rid in handle.population.day_events(day)[:n]]


def test_two_servers_with_the_same_seed_serve_identical_bytes(simulator):
    first, second = simulator(seed=7, now_ms=NOW_MS), simulator(seed=7, now_ms=NOW_MS)
    other = simulator(seed=8, now_ms=NOW_MS)
    for rid in ids(first, 10):
        a, b = get(first, rid), get(second, rid)
        assert a.status_code == b.status_code == 200
        assert a.content == b.content
        assert a.json()["products"]["identification"]["data"]["requestId"] == rid
        assert get(other, rid).status_code == 404


def test_a_missing_or_wrong_key_is_a_403_with_the_v3_body(shared_simulator):
    rid = ids(shared_simulator, 1, datetime.now(UTC).date() - timedelta(days=1))[0]
    missing, wrong = get(shared_simulator, rid, key=None), get(shared_simulator, rid, key="not-the-key")
    assert missing.status_code == wrong.status_code == 403
    assert missing.json() == {"error": {"code": "TokenRequired", "message": "secret key is required"}}
    assert wrong.json() == {"error": {"code": "TokenNotFound", "message": "secret key is not found"}}
    assert missing.headers["Content-Type"] == "application/json"


def test_error_bodies_match_the_official_examples(simulator, shared_examples):
    handle = simulator(now_ms=NOW_MS, rps_limit=1, rps_burst=1)
    errors = shared_examples / "v3" / "errors"
    rid = ids(handle, 1)[0]
    assert get(handle, rid, key=None).json() == json.loads((errors / "403_token_required.json").read_text())
    assert get(handle, rid, key="nope").json() == json.loads((errors / "403_token_not_found.json").read_text())
    assert get(handle, rid[:-1] + "0").json() == json.loads((errors / "404_request_not_found.json").read_text())
    throttled = [get(handle, rid) for _ in range(3)][-1]
    assert throttled.json() == json.loads((errors / "429_too_many_requests.json").read_text())
    example = shared_examples / "v3" / "get_event_200_too_many_requests_error.json"
    assert json.loads(example.read_text()) == THROTTLED_IN_200


def test_the_key_is_also_accepted_as_the_api_key_query_parameter(shared_simulator):
    rid = ids(shared_simulator, 1, datetime.now(UTC).date() - timedelta(days=1))[0]
    response = get(shared_simulator, rid, key=None, params={"api_key": shared_simulator.api_key})
    assert response.status_code == 200
    assert get(shared_simulator, rid, key=None, params={"api_key": "wrong"}).status_code == 403


def test_unknown_future_and_expired_ids_are_404_request_not_found(simulator):
    handle = simulator(now_ms=NOW_MS, retention_days=30)
    rid = ids(handle, 1)[0]
    forged = rid[:-1] + ("x" if rid[-1] != "x" else "y")
    old = ids(handle, 1, DAY - timedelta(days=31))[0]
    future = ids(handle, 1, DAY + timedelta(days=2))[0]
    expected = {"error": {"code": "RequestNotFound", "message": "request id is not found"}}
    for request_id in (forged, old, future):
        response = get(handle, request_id)
        assert (response.status_code, response.json()) == (404, expected)
    assert get(handle, ids(handle, 1, DAY - timedelta(days=28))[0]).status_code == 200


def test_retention_none_keeps_every_event(simulator):
    handle = simulator(now_ms=NOW_MS, retention_days=None)
    assert get(handle, ids(handle, 1, DAY - timedelta(days=400))[0]).status_code == 200


def test_a_malformed_id_is_a_400(shared_simulator):
    for bad in ("12345.abc", "1708102555327.NLOjm", "not-an-id", "1708102555327_NLOjmg"):
        response = get(shared_simulator, bad)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "RequestCannotBeParsed"


def test_unknown_paths_are_a_plain_404(shared_simulator):
    response = requests.get(f"{shared_simulator.url}/visitors/abc", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")


def test_the_rate_limit_answers_429_with_retry_after_and_counts_it(simulator):
    handle = simulator(now_ms=NOW_MS, rps_limit=2, rps_burst=3)
    rid = ids(handle, 1)[0]
    with requests.Session() as session:
        responses = [get(handle, rid, session) for _ in range(10)]
    statuses = [r.status_code for r in responses]
    assert statuses[:3] == [200, 200, 200]
    throttled = [r for r in responses if r.status_code == 429]
    assert len(throttled) >= 5
    assert all(r.headers["Retry-After"] == "1" and r.json() == TOO_MANY for r in throttled)
    stats = requests.get(f"{handle.url}/_simulator/stats", timeout=5).json()
    assert stats["throttled"] == len(throttled)
    assert stats["by_status"]["429"] == len(throttled)
    time.sleep(0.6)
    assert get(handle, rid).status_code == 200, "the bucket refills"


def test_throttled_event_requests_can_come_back_as_the_in_200_throttle(simulator):
    handle = simulator(now_ms=NOW_MS, rps_limit=1, rps_burst=1, throttle_in_200_rate=1.0)
    rid = ids(handle, 1)[0]
    first, second = get(handle, rid), get(handle, rid)
    assert first.status_code == 200 and "data" in first.json()["products"]["identification"]
    assert second.status_code == 200
    assert second.json() == THROTTLED_IN_200
    assert handle.stats()["throttled_in_200"] == 1


def test_5xx_faults_come_at_about_the_configured_rate(simulator):
    handle = simulator(now_ms=NOW_MS, fail_5xx_rate=0.3, seed=11)
    rid = ids(handle, 1)[0]
    with requests.Session() as session:
        statuses = [get(handle, rid, session).status_code for _ in range(200)]
    failures = [s for s in statuses if s >= 500]
    assert 0.2 < len(failures) / len(statuses) < 0.4
    assert set(failures) <= {500, 502, 503} and len(set(failures)) >= 2
    assert handle.stats()["faults"]["server_error"] == len(failures)


def test_dropped_connections_come_at_about_the_configured_rate(simulator):
    handle = simulator(now_ms=NOW_MS, drop_rate=0.5)
    rid = ids(handle, 1)[0]
    outcomes = []
    for _ in range(40):
        try:
            outcomes.append(get(handle, rid).status_code)
        except requests.ConnectionError:
            outcomes.append("dropped")
    dropped = outcomes.count("dropped")
    assert 8 <= dropped <= 32
    assert handle.stats()["faults"]["drop"] == dropped


def test_a_short_body_truncation_breaks_the_read(simulator):
    handle = simulator(now_ms=NOW_MS, truncate_rate=1.0)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        get(handle, ids(handle, 1)[0])
    assert handle.stats()["faults"]["truncate"] == 1


def test_a_cut_json_truncation_is_a_complete_200_with_half_a_body(simulator):
    handle = simulator(now_ms=NOW_MS, truncate_rate=1.0, truncate_mode="cut-json")
    response = get(handle, ids(handle, 1)[0])
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_errors_are_never_truncated_and_control_endpoints_never_faulted(simulator):
    handle = simulator(now_ms=NOW_MS, truncate_rate=0.5, fail_5xx_rate=0.5)
    assert get(handle, "12345.abc", key=None).status_code in (403, 500, 502, 503)
    for _ in range(20):
        assert requests.get(f"{handle.url}/_simulator/stats", timeout=5).status_code == 200


def test_latency_is_added_to_api_requests(simulator):
    handle = simulator(now_ms=NOW_MS, latency_ms=150)
    started = time.perf_counter()
    assert get(handle, ids(handle, 1)[0]).status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_recorded_examples_are_replayed_verbatim(simulator, shared_examples):
    handle = simulator(recorded_dir=shared_examples / "v3")
    response = get(handle, "1708102555327.NLOjmg")
    assert response.status_code == 200
    assert response.content == (shared_examples / "v3" / "get_event_200.json").read_bytes()
    legacy = get(handle, "0KSh65EnVoB85JBmloQK")
    assert legacy.content == (shared_examples / "v3" / "get_event_200_botd_failed_error.json").read_bytes()


def test_a_recorded_file_named_after_an_id_wins_and_others_fall_back_to_the_generator(simulator, tmp_path):
    seed_handle = simulator(now_ms=NOW_MS)
    recorded_id, generated_id = ids(seed_handle, 2)
    (tmp_path / f"{recorded_id}.json").write_bytes(b'{"products": {"broken": ')
    (tmp_path / "other.json").write_text(
        orjson.dumps({"products": {"identification": {"data": {"requestId": recorded_id}}}}).decode()
    )
    handle = simulator(now_ms=NOW_MS, recorded_dir=tmp_path)
    assert get(handle, recorded_id).content == b'{"products": {"broken": '
    assert get(handle, generated_id).content == get(seed_handle, generated_id).content


def test_stats_count_api_requests_by_kind_and_status_and_reset(simulator):
    handle = simulator(now_ms=NOW_MS)
    rid = ids(handle, 1)[0]
    get(handle, rid)
    get(handle, rid, key=None)
    get(handle, "bad")
    requests.get(f"{handle.url}/events/search", params={"limit": 10}, headers={"Auth-API-Key": handle.api_key})
    stats = requests.get(f"{handle.url}/_simulator/stats", timeout=5).json()
    assert stats["total"] == 4
    assert stats["by_kind"] == {"event": 3, "search": 1}
    assert stats["by_status"] == {"200": 2, "400": 1, "403": 1}  # the search answers 200 (simulator.search)
    assert stats == handle.stats()
    assert requests.post(f"{handle.url}/_simulator/reset", timeout=5).status_code == 200
    assert handle.stats()["total"] == 0
    handle.reset_stats()


def test_stop_closes_keep_alive_connections_and_frees_the_port(simulator):
    handle = simulator(now_ms=NOW_MS)
    session = requests.Session()
    assert get(handle, ids(handle, 1)[0], session).status_code == 200
    handle.stop()
    handle.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", handle.port)) != 0
    session.close()
