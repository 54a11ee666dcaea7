"""The API client against the simulator over real HTTP: outcomes, retries, throttling, fatal refusals, the key."""

from __future__ import annotations

import bisect
import logging
import socket
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from pipelines.api.client import YoungEventRetry
from pipelines.api.errors import FatalApiError
from pipelines.api.exchange import retry_after_s
from pipelines.api.results import FetchResult
from simulator.server import SimulatorHandle

DAY_MS = 86_400_000
YOUNG = YoungEventRetry(retries=2, min_delay_s=0.05, max_delay_s=0.1)
THROTTLE_CODES = (b"429 Too Many Requests", b"TooManyRequests")


def event_ids(sim: SimulatorHandle, n: int) -> list[str]:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return [request_id for _, request_id in sim.population.day_events(yesterday)[:n]]


def fetch_all(api_client: Any, sim: SimulatorHandle, ids: list[str], **overrides: Any) -> list[FetchResult]:
    with api_client(sim, young=YOUNG, **overrides) as client:
        return list(client.fetch_events(ids))


def id_aged(ms: int) -> str:
    """A well-formed request ID whose epoch-ms prefix is `ms` old (never issued by the simulator)."""
    return f"{int(time.time() * 1000) - ms:013d}.ZZzz00"


def test_an_existing_event_is_ok_with_the_exact_body_bytes(simulator, tmp_path, api_client) -> None:
    sim = simulator()
    ids = event_ids(sim, 6)
    results = fetch_all(api_client, sim, ids)

    assert sorted(r.request_id for r in results) == sorted(ids)
    for r in results:
        direct = requests.get(f"{sim.url}/events/{r.request_id}", headers={"Auth-API-Key": sim.api_key}, timeout=5)
        assert (r.outcome, r.http_status, r.attempts, r.error_code) == ("ok", 200, 1, None)
        assert r.body == direct.content
        assert (r.api_version, r.method) == (3, "by_id")
        assert r.latency_ms > 0 and r.fetched_at.tzinfo is not None
    assert sim.stats()["total"] == len(ids) * 2  # the client's calls plus the direct ones


def test_an_unknown_id_is_not_found_after_a_single_call(simulator, tmp_path, api_client) -> None:
    sim = simulator()
    (result,) = fetch_all(api_client, sim, [id_aged(DAY_MS)])

    assert (result.outcome, result.http_status, result.error_code, result.attempts) == (
        "not_found",
        404,
        "RequestNotFound",
        1,
    )
    assert result.body is None
    assert sim.stats()["total"] == 1


def test_a_404_for_a_just_created_event_is_retried_while_it_may_still_propagate(
    simulator, tmp_path, api_client
) -> None:
    sim = simulator()
    (result,) = fetch_all(api_client, sim, [id_aged(1_000)])

    assert (result.outcome, result.error_code) == ("not_found", "RequestNotFound")
    assert result.attempts == 1 + YOUNG.retries
    assert sim.stats()["total"] == result.attempts


def test_a_404_past_retention_says_the_event_is_too_old_to_fetch(simulator, tmp_path, api_client) -> None:
    sim = simulator(retention_days=30)
    old = sim.population.day_events(datetime.now(UTC).date() - timedelta(days=42))[0][1]
    (result,) = fetch_all(api_client, sim, [id_aged(41 * DAY_MS + 3_600_000)], retention_days=30)
    (real_old,) = fetch_all(api_client, sim, [old], retention_days=30)

    assert result.outcome == "not_found"
    assert result.error_message == (
        "event is 41 days old; Fingerprint keeps events for 30 days (FINGERPRINT_RETENTION_DAYS), "
        "so it can no longer be fetched"
    )
    assert real_old.outcome == "not_found" and "Fingerprint keeps events for 30 days" in real_old.error_message
    assert sim.stats()["total"] == 2


def test_a_malformed_id_fails_with_the_api_code_without_retry(simulator, tmp_path, api_client) -> None:
    sim = simulator()
    (result,) = fetch_all(api_client, sim, ["not-a-request-id"])

    assert (result.outcome, result.http_status, result.error_code, result.attempts) == (
        "failed",
        400,
        "RequestCannotBeParsed",
        1,
    )
    assert sim.stats()["total"] == 1


def test_a_rejected_key_stops_the_run_with_a_fix_and_never_shows_the_key(
    simulator, tmp_path, caplog, api_client
) -> None:
    sim = simulator()
    wrong_key = "sk-wrong-key-7c1d9e2f"
    caplog.set_level(logging.DEBUG)
    seen: list[FetchResult] = []
    with api_client(sim, key=wrong_key) as client, pytest.raises(FatalApiError) as caught:
        concurrency = client.settings.concurrency
        seen.extend(client.fetch_events(event_ids(sim, 200)))
    time.sleep(0.1)  # let in-flight workers finish, so any late log line is in caplog too

    error = caught.value
    assert str(error).startswith(
        "Fingerprint rejected the secret key (403 TokenNotFound): check FINGERPRINT_SECRET_API_KEY and "
        "FINGERPRINT_REGION / FINGERPRINT_API_URL"
    )
    assert (error.http_status, error.code) == (403, "TokenNotFound")
    assert sim.stats()["total"] <= 2 * concurrency  # it stopped at once: outstanding work was cancelled, not tried
    everything = [
        str(error),
        repr(error),
        repr(error.args),
        "".join(traceback.format_exception(error)),
        repr(error.__cause__),
        repr(error.__context__),
        caplog.text,
        *(repr(r) + repr(r.body) for r in seen),
    ]
    assert not any(wrong_key in text for text in everything)


@pytest.mark.parametrize(
    ("code", "names"),
    [
        ("WrongRegion", "FINGERPRINT_REGION"),
        ("SubscriptionNotActive", "subscription"),
        ("FeatureNotEnabled", "plan"),
        (None, "FINGERPRINT_SECRET_API_KEY"),
    ],
)
def test_each_refusal_names_what_to_fix(code, names) -> None:
    message = str(FatalApiError.forbidden(code, None))

    assert f"(403 {code or 'Forbidden'})" in message and names in message


def test_the_key_travels_in_a_header_never_in_a_url(simulator, tmp_path, capfd, caplog, api_client) -> None:
    sim = simulator(log_requests=True)
    caplog.set_level(logging.DEBUG)
    results = fetch_all(api_client, sim, [*event_ids(sim, 3), id_aged(DAY_MS)])
    request_lines = [line for line in capfd.readouterr().err.splitlines() if '"GET ' in line]

    assert [r.outcome for r in results].count("ok") == 3
    assert len(request_lines) == 4
    assert all("/events/" in line and "api_key" not in line and sim.api_key not in line for line in request_lines)
    assert sim.api_key not in caplog.text
    assert not any(sim.api_key in repr(r) for r in results)


def test_a_429_pauses_every_worker_for_retry_after_and_loses_nothing(simulator, tmp_path, api_client) -> None:
    # The test empties the simulator's bucket (4 tokens, 4 a second) just before the client's 4 workers start
    # together: at most one token can have come back, so 429s come whatever the machine's speed.
    sim = simulator(rps_limit=4, rps_burst=4)
    ids = event_ids(sim, 12)
    for rid in ids[:4]:
        assert requests.get(f"{sim.url}/events/{rid}", headers={"Auth-API-Key": sim.api_key}, timeout=5).ok
    sim.reset_stats()
    started = time.monotonic()
    results = fetch_all(api_client, sim, ids, concurrency=4, max_attempts=8)
    elapsed = time.monotonic() - started
    stats = sim.stats()

    assert Counter(r.request_id for r in results) == Counter(ids)
    assert all(r.outcome == "ok" for r in results)
    assert stats["by_status"].get("429", 0) >= 1
    assert elapsed >= 1.0  # Retry-After: 1 was waited out
    # honoured by all workers at once: a few in-flight 429s per pause, not a retry storm
    assert stats["by_status"]["429"] <= 4 * 4


def test_the_throttle_inside_a_200_is_retried_and_never_stored_as_ok(simulator, tmp_path, api_client) -> None:
    sim = simulator(rps_limit=50, rps_burst=5, throttle_in_200_rate=1.0)
    ids = event_ids(sim, 20)
    results = fetch_all(api_client, sim, ids, backoff_base_s=0.05, backoff_cap_s=0.2)

    assert sim.stats()["throttled_in_200"] >= 1
    assert Counter(r.request_id for r in results) == Counter(ids)
    assert all(r.outcome == "ok" and not any(c in r.body for c in THROTTLE_CODES) for r in results)


def test_a_persistent_in_200_throttle_ends_as_failed_throttled(simulator, tmp_path, api_client) -> None:
    sim = simulator(rps_limit=1, rps_burst=1, throttle_in_200_rate=1.0)
    results = fetch_all(api_client, sim, event_ids(sim, 8), max_attempts=1)
    failed = [r for r in results if r.outcome != "ok"]

    assert len(failed) >= 6
    assert all((r.outcome, r.http_status, r.error_code, r.body) == ("failed", 200, "throttled", None) for r in failed)
    assert all(r.attempts == 4 for r in failed)  # throttled answers have 4 x max_attempts


@pytest.mark.parametrize(
    "faults",
    [
        {"fail_5xx_rate": 0.3},
        {"drop_rate": 0.3},
        {"truncate_rate": 0.3},
        {"truncate_rate": 0.3, "truncate_mode": "cut-json"},
    ],
    ids=["5xx", "drop", "short-body", "cut-json"],
)
def test_transient_faults_are_retried_until_ok(simulator, tmp_path, faults, api_client) -> None:
    sim = simulator(**faults)
    ids = event_ids(sim, 30)
    results = fetch_all(api_client, sim, ids, max_attempts=10)

    assert Counter(r.request_id for r in results) == Counter(ids)
    assert all(r.outcome == "ok" for r in results)
    assert sum(r.attempts for r in results) == sim.stats()["total"] > len(ids)


@pytest.mark.parametrize(
    ("faults", "status", "codes"),
    [
        ({"fail_5xx_rate": 1.0}, {500, 502, 503}, {"Failed", "http_502", "http_503"}),
        ({"drop_rate": 1.0}, {None}, {"connection_error"}),
        ({"truncate_rate": 1.0}, {200}, {"bad_payload"}),
        ({"truncate_rate": 1.0, "truncate_mode": "cut-json"}, {200}, {"bad_payload"}),
    ],
    ids=["5xx", "drop", "short-body", "cut-json"],
)
def test_persistent_faults_fail_after_max_attempts(simulator, tmp_path, faults, status, codes, api_client) -> None:
    sim = simulator(**faults)
    results = fetch_all(api_client, sim, event_ids(sim, 5), max_attempts=3)

    assert all(r.outcome == "failed" and r.attempts == 3 and r.body is None for r in results)
    assert {r.http_status for r in results} <= status
    assert {r.error_code for r in results} <= codes
    assert sim.stats()["total"] == 15


def test_a_connection_failure_is_described_without_the_url_or_the_key(simulator, tmp_path, api_client) -> None:
    sim = simulator()
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    (result,) = fetch_all(api_client, sim, event_ids(sim, 1), api_url=closed_url, max_attempts=2)

    assert (result.outcome, result.http_status, result.error_code, result.attempts) == (
        "failed",
        None,
        "connection_error",
        2,
    )
    assert "ConnectionRefusedError" in result.error_message
    assert closed_url.split("//")[1] not in result.error_message and sim.api_key not in result.error_message


def test_a_slow_api_times_out_and_fails_after_max_attempts(simulator, tmp_path, api_client) -> None:
    sim = simulator(latency_ms=400)
    results = fetch_all(api_client, sim, event_ids(sim, 2), timeout_s=0.1, max_attempts=2)

    assert all((r.outcome, r.http_status, r.error_code, r.attempts) == ("failed", None, "timeout", 2) for r in results)


def most_within(stamps: list[float], width: float) -> int:
    """The most arrivals inside any window shorter than `width` seconds."""
    stamps = sorted(stamps)
    return max((bisect.bisect_left(stamps, t + width) - k for k, t in enumerate(stamps)), default=0)


def test_at_most_concurrency_requests_are_in_flight(simulator, tmp_path, api_client) -> None:
    # Each answer takes 100 ms, so a request arriving less than 100 ms after another overlapped it: the count of
    # arrivals within 100 ms is the number in flight, whatever the machine's load (a slow client only spreads them).
    sim = simulator(latency_ms=100)
    results = fetch_all(api_client, sim, event_ids(sim, 12), concurrency=3)
    arrivals = sim.arrivals()

    assert all(r.outcome == "ok" for r in results) and len(arrivals) == 12
    assert most_within(arrivals, 0.1) <= 3  # never more than `concurrency` at once
    assert most_within(arrivals, 0.1) >= 2  # but more than one: requests do overlap


def test_ids_are_pulled_a_bounded_window_ahead(simulator, api_client) -> None:
    sim = simulator()
    pulled = 0

    def lazily(ids: list[str]) -> Iterator[str]:
        nonlocal pulled
        for request_id in ids:
            pulled += 1
            yield request_id

    with api_client(sim, concurrency=2) as client:
        results = client.fetch_events(lazily(event_ids(sim, 100)))
        next(results)
        assert pulled <= 2 * 2 + 2
        results.close()
        listed = list(client.fetch_events(event_ids(sim, 3)))

    assert len(listed) == 3


def test_the_client_limiter_paces_requests(simulator, tmp_path, api_client) -> None:
    sim = simulator()
    started = time.monotonic()
    results = fetch_all(api_client, sim, event_ids(sim, 12), rate_limit_rps=20, rate_limit_burst=2)
    elapsed = time.monotonic() - started

    assert all(r.outcome == "ok" for r in results)
    assert elapsed >= (12 - 2) / 20 - 0.05


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 23, 10, 0, 0, 250_000, tzinfo=UTC)  # a pinned clock: no race with the second's turn
    in_three_seconds = format_datetime(now.replace(microsecond=0) + timedelta(seconds=3), usegmt=True)

    assert retry_after_s("2") == 2.0
    assert retry_after_s(in_three_seconds, now=now) == 2.75
    assert retry_after_s(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    assert 0.0 < retry_after_s(format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)) <= 3600
    assert retry_after_s(None) is None and retry_after_s("soon") is None
