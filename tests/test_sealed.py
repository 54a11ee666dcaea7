"""Opening sealed client results (`transforms.sealed`): good, rotated, wrong key, corrupt; never an exception."""

from __future__ import annotations

import base64
from datetime import date

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.population import Population
from simulator.sealed import SealedLogs, seal, sealed_result
from transforms.sealed import HEADER, REASONS, SealedKeys, Unsealed, unseal, unseal_base64

KEY, OLD_KEY, OTHER_KEY = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))
NONCE = bytes(12)


def b64(*keys: bytes) -> str:
    return ",".join(base64.b64encode(k).decode() for k in keys)


@pytest.fixture(scope="module")
def population() -> Population:
    return Population(seed=5, events_per_day=300)


@pytest.fixture(scope="module")
def request_id(population: Population) -> str:
    return population.day_events(date(2026, 11, 20))[7][1]


@pytest.mark.parametrize("version", [3, 4])
def test_a_sealed_event_opens_to_the_event_the_api_returns_byte_for_byte(population, request_id, version):
    sealed = sealed_result(population, request_id, SealedLogs(KEY, version=version))
    opened = unseal_base64(sealed, SealedKeys.from_base64(b64(KEY)))
    assert isinstance(opened, Unsealed)
    expected = population.event_v3(request_id) if version == 3 else population.event_v4(request_id)
    assert (opened.request_id, opened.api_version, opened.body) == (request_id, version, orjson.dumps(expected))
    assert opened.timestamp_ms == population.timestamp_ms(request_id)


def test_after_a_key_rotation_results_sealed_with_the_old_key_still_open(population, request_id):
    old = sealed_result(population, request_id, SealedLogs(OLD_KEY))
    new = sealed_result(population, request_id, SealedLogs(KEY))
    keys = SealedKeys.from_base64(f" {b64(KEY)} , {b64(OLD_KEY)} ")
    assert len(keys) == 2
    assert unseal_base64(old, keys).request_id == unseal_base64(new, keys).request_id == request_id


def test_a_wrong_key_is_a_reason_not_an_exception(population, request_id):
    sealed = sealed_result(population, request_id, SealedLogs(KEY))
    assert unseal_base64(sealed, SealedKeys([OTHER_KEY, OLD_KEY])) == "sealed_undecryptable"
    assert unseal_base64(sealed, None) == unseal_base64(sealed, SealedKeys([])) == "sealed_no_keys"


def test_corrupt_results_are_told_apart_by_reason(population, request_id):
    keys = SealedKeys([KEY])
    raw = base64.b64decode(sealed_result(population, request_id, SealedLogs(KEY)))
    flipped = raw[:40] + bytes([raw[40] ^ 1]) + raw[41:]
    assert unseal(flipped, keys) == "sealed_undecryptable"  # the tag catches any changed byte
    assert unseal(b"\x00" + raw[1:], keys) == "sealed_malformed"  # not the sealed header
    assert unseal(HEADER + bytes(20), keys) == "sealed_malformed"  # too short for nonce + tag
    assert unseal(b"", keys) == "sealed_malformed"
    assert unseal_base64("not base64 at all!", keys) == "sealed_malformed"
    assert unseal_base64(base64.urlsafe_b64encode(raw).decode().rstrip("="), keys).request_id == request_id


def test_a_result_that_opens_but_holds_no_event_is_not_an_event():
    keys = SealedKeys([KEY])
    not_deflated = HEADER + NONCE + AESGCM(KEY).encrypt(NONCE, b'{"products": {}}', None)
    assert unseal(not_deflated, keys) == "sealed_not_event"
    assert unseal(seal(b'{"invalid": true}', KEY, NONCE), keys) == "sealed_not_event"
    assert unseal(seal(b"[1, 2]", KEY, NONCE), keys) == "sealed_not_event"
    assert unseal(seal(b'{"products": {"identification": {"error": {}}}}', KEY, NONCE), keys) == "sealed_not_event"
    assert unseal(seal(b" " * (20 << 20), KEY, NONCE), keys) == "sealed_not_event"  # inflates past the cap


def test_keys_never_show_in_a_repr_or_an_error():
    keys = SealedKeys.from_base64(b64(KEY, OLD_KEY))
    for text in (repr(keys), str(keys), repr([keys])):
        assert b64(KEY) not in text and KEY.hex() not in text and "2 keys" in text
    for bad in ("c2hvcnQ=", "!!notbase64!!"):
        with pytest.raises(ValueError) as error:
            SealedKeys.from_base64(f"{b64(KEY)},{bad}")
        assert "number 2" in str(error.value) and bad not in str(error.value) and b64(KEY) not in str(error.value)


def test_every_reason_is_documented():
    assert set(REASONS) == {"sealed_no_keys", "sealed_malformed", "sealed_undecryptable", "sealed_not_event"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_garbage_gives_a_reason_never_an_exception(garbage):
    keys = SealedKeys([KEY])
    opened = unseal_base64(garbage, keys) if isinstance(garbage, str) else unseal(HEADER + garbage, keys)
    assert opened in REASONS
