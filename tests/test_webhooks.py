"""The webhook receiver over real HTTP: signatures, durability before the answer, duplicates, kill -9."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, date, datetime

import orjson
import polars as pl
import pytest
import requests

from pipelines.webhooks.inbox import InboxRecord, SegmentWriter, decode_segment, land_inbox
from pipelines.webhooks.signature import SIGNATURE_HEADER, WebhookSecrets, is_signed
from simulator.population import Population
from simulator.webhooks import day_bodies, pushed_ids, sign
from tests.conftest import start_receiver_process
from transforms.webhooks import identify

DAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def bodies() -> dict[int, list[tuple[str, bytes]]]:
    """Webhook bodies of 60 simulated events of DAY, in both API versions."""
    population = Population(seed=2, events_per_day=400)
    ids = pushed_ids(population, DAY, share=0.2)[:60]
    return {version: list(day_bodies(population, ids, version)) for version in (3, 4)}


def post(url: str, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"} | ({SIGNATURE_HEADER: signature} if signature else {})
    return requests.post(url, data=body, headers=headers, timeout=10)


def webhook_records(receiver) -> pl.DataFrame:
    bronze = receiver.bronze()
    frames = [bronze.all_fetches(day) for day in bronze.days()]
    return pl.concat(frames) if frames else pl.DataFrame()


def test_the_signature_is_hmac_sha256_of_the_raw_body_with_the_secret():
    signature = "v1=1b2c16b75bd2a870c114153ccda5bcfca63314bc722fa160d690de133ccbb9db"
    assert is_signed(signature, b"data", WebhookSecrets(["secret"]))  # the pair the Fingerprint SDKs document
    assert not is_signed(signature, b"data ", WebhookSecrets(["secret"]))
    secrets = WebhookSecrets(["whsec-1", "whsec-2"])
    assert "whsec" not in repr(secrets) + str(secrets) and "2 secrets" in repr(secrets)


def test_good_rotated_and_multi_version_signatures_are_accepted_bad_and_missing_ones_store_nothing(
    tmp_path, webhook_receiver, bodies
):
    receiver = webhook_receiver(tmp_path / "wh", secrets=("new-secret", "old-secret"))
    (a, body_a), (b, body_b), (c, body_c), (_, body_d), (_, body_e) = bodies[4][:5]
    assert post(receiver.url, body_a, sign(body_a, ["new-secret"])).status_code == 200
    assert post(receiver.url, body_b, sign(body_b, ["old-secret"])).status_code == 200  # our side of a rotation
    several = f"v2=deadbeef, v1={'0' * 64},{sign(body_c, ['new-secret'])}"  # theirs: one entry per secret
    assert post(receiver.url, body_c, several).status_code == 200
    assert post(receiver.url, body_d, sign(body_d, ["someone-else"])).status_code == 403
    assert post(receiver.url, body_d, sign(body_a, ["new-secret"])).status_code == 403  # another body's signature
    assert post(receiver.url, body_e, None).status_code == 401
    assert post(receiver.url, body_e, "v2=" + sign(body_e, ["new-secret"])[3:]).status_code == 403  # unknown scheme
    receiver.stop()
    stored = webhook_records(receiver)
    assert sorted(stored["request_id"]) == sorted([a, b, c])
    assert set(stored["method"]) == {"webhook"} and set(stored["outcome"]) == {"ok"}


@pytest.mark.parametrize("version", [3, 4])
def test_an_acknowledged_webhook_lands_raw_in_bronze_under_its_event_day(tmp_path, webhook_receiver, bodies, version):
    receiver = webhook_receiver(tmp_path / "wh", land_interval_s=0.2)
    for _, body in bodies[version][:20]:
        answer = post(receiver.url, body, sign(body, ["s3cret"]))
        assert answer.status_code == 200 and answer.json()["status"] == "stored"
    deadline = time.monotonic() + 20  # the live segment is closed and landed within the interval
    while time.monotonic() < deadline and len(webhook_records(receiver)) < 20:
        time.sleep(0.1)
    stored = {
        rid: body
        for batch in receiver.bronze().ok_bodies(DAY)
        for rid, body in batch.select("request_id", "body").iter_rows()
    }
    assert stored == dict(bodies[version][:20])  # byte for byte, under the event's UTC day
    assert set(webhook_records(receiver)["api_version"]) == {version}
    assert all(identify(body).day == DAY for body in stored.values())


def test_a_redelivered_webhook_is_stored_once_even_across_restarts(tmp_path, webhook_receiver, bodies):
    (rid, body), *_ = bodies[4]
    first = webhook_receiver(tmp_path / "wh")
    answers = [post(first.url, body, sign(body, ["s3cret"])).json()["status"] for _ in range(3)]
    assert answers == ["stored", "duplicate", "duplicate"]
    first.stop()
    second = webhook_receiver(tmp_path / "wh")  # Fingerprint's retry, minutes later, after a restart
    assert post(second.url, body, sign(body, ["s3cret"])).status_code == 200
    second.stop()
    assert webhook_records(second)["request_id"].to_list() == [rid]


def test_bodies_that_are_not_webhook_events_or_too_large_are_refused(tmp_path, webhook_receiver):
    receiver = webhook_receiver(tmp_path / "wh")
    for body in (b"not json", b'{"products": {}}', b"[]", b'{"event_id": ""}'):
        assert post(receiver.url, body, sign(body, ["s3cret"])).status_code == 400, body
    huge = b'{"event_id": "' + b"x" * (3 << 20) + b'"}'
    assert post(receiver.url, huge, sign(huge, ["s3cret"])).status_code == 413
    health = requests.get(receiver.url + "/health", timeout=5).json()["counts"]
    assert health == {"not_an_event": 4, "body_too_large": 1}
    receiver.stop()
    assert webhook_records(receiver).is_empty()


def test_a_torn_last_record_is_ignored_and_a_live_segment_is_left_to_its_writer(tmp_path, store):
    inbox, bronze, lock = tmp_path / "inbox", store.bronze, tmp_path / "inbox.lock"
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)
    records = [InboxRecord(f"1795341601{n:03d}.AAAAAA", 4, DAY, at, b'{"n": %d}' % n) for n in range(3)]
    encoded = [r.encode() for r in records]
    assert decode_segment(b"".join(encoded) + encoded[0][:30]) == (records, 30)
    writer = SegmentWriter(inbox)
    writer.append(encoded[:2])
    assert land_inbox(inbox, bronze, lock).live_segments == 1 and not bronze.days()  # its writer still holds it
    writer.rotate()
    report = land_inbox(inbox, bronze, lock)
    assert (report.segments, report.events, report.live_segments) == (1, 2, 0)
    writer.append(encoded)  # the first two again: a retry acknowledged after a restart
    writer.rotate()
    assert land_inbox(inbox, bronze, lock).events == 1
    assert sorted(bronze.done_ids(DAY)) == sorted(r.request_id for r in records)
    assert not list(inbox.glob("seg-*"))


def test_without_a_secret_the_receiver_refuses_to_start_unless_told_to_run_insecure(tmp_path, bodies):
    refused = start_receiver_process(tmp_path / "wh", None)
    assert refused.proc.returncode == 2 and "FINGERPRINT_WEBHOOK_SECRET is not set" in "".join(refused.log)
    insecure = start_receiver_process(tmp_path / "wh", None, "--insecure-no-signature")
    try:
        (rid, body), *_ = bodies[3]
        assert post(insecure.url, body, None).status_code == 200
    finally:
        insecure.stop()
    assert insecure.proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once it shut down cleanly
    assert webhook_records(insecure)["request_id"].to_list() == [rid]


def test_the_webhook_secret_appears_in_no_output_or_file(tmp_path, bodies):
    canary = "whsec-canary-5e4d3c2b1a"
    receiver = start_receiver_process(tmp_path / "wh", f"{canary},{canary}-old")
    try:
        for _, body in bodies[4][:5]:
            assert post(receiver.url, body, sign(body, [canary])).status_code == 200
        assert post(receiver.url, body, "v1=" + "0" * 64).status_code == 403
    finally:
        receiver.stop()
    assert canary not in "".join(receiver.log) + receiver.proc.stderr.read()
    for path in (tmp_path / "wh").rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_after_kill_9_mid_load_every_acknowledged_webhook_is_in_bronze_exactly_once(tmp_path, bodies):
    population = Population(seed=4, events_per_day=3000)
    load = list(day_bodies(population, pushed_ids(population, DAY, share=1.0)[:1500], 4))
    receiver = start_receiver_process(tmp_path / "wh", "s3cret", FPWH_WEBHOOK_LAND_INTERVAL_S="0.5")
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def client(part: list[tuple[str, bytes]]) -> None:
        with requests.Session() as session:
            for rid, body in part:
                try:
                    answer = session.post(receiver.url, data=body, headers={SIGNATURE_HEADER: sign(body, ["s3cret"])})
                except requests.ConnectionError:
                    return  # the receiver is gone: what it did not answer was not acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged.add(rid)

    clients = [threading.Thread(target=client, args=(load[k::4],)) for k in range(4)]
    for thread in clients:
        thread.start()
    while len(acknowledged) < 400:
        time.sleep(0.01)
    os.kill(receiver.proc.pid, signal.SIGKILL)
    for thread in clients:
        thread.join()
    receiver.proc.wait()
    assert 400 <= len(acknowledged) < len(load)
    again = start_receiver_process(tmp_path / "wh", "s3cret")  # lands what the killed one left in its inbox
    retried = [(rid, body) for rid, body in load if rid in acknowledged][:50]  # Fingerprint's retries
    for _, body in retried:
        assert post(again.url, body, sign(body, ["s3cret"])).status_code == 200
    again.stop()
    stored = webhook_records(again)["request_id"]
    assert stored.is_unique().all()
    assert acknowledged <= set(stored)
    assert not list(again.inbox().glob("seg-*.wal"))


def test_an_event_day_comes_from_the_timestamp_else_the_id_prefix():
    assert identify(orjson.dumps({"event_id": "1708102555327.NLOjmg", "timestamp": 1795341601123})).day == date(
        2026, 11, 22
    )
    assert identify(orjson.dumps({"event_id": "1708102555327.NLOjmg"})).day == date(2024, 2, 16)
    assert identify(orjson.dumps({"requestId": "Abcdefghij0123456789"})).day is None
    assert identify(orjson.dumps({"requestId": "Abcdefghij0123456789"})).api_version == 3
    assert isinstance(identify(b'{"products": {}}'), str)
