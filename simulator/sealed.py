"""Sealed client results as Fingerprint's JavaScript agent hands them to a page, for the demo logs and the tests.

The layout the official SDKs unseal: header `9E 85 DC ED`, a 12-byte nonce, AES-256-GCM ciphertext ending in
its 16-byte tag, over the raw-deflate compressed event JSON (the event as `GET /events/{id}` returns it in the
workspace's API version). The simulator's own implementation, not the warehouse's reader: tests that open a
simulated sealed result compare the two.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from simulator.population import Population

HEADER = bytes([0x9E, 0x85, 0xDC, 0xED])


@dataclass(frozen=True)
class SealedLogs:
    """Which demo log lines carry a sealed result: a `share` of the JSON and logfmt lines, sealed with `key`
    (32 bytes) in API `version`; `beside_id` of those keep their request ID too, the others log only the seal."""

    key: bytes = field(repr=False)
    share: float = 0.3
    version: int = 3
    beside_id: float = 0.25

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError("a sealed-results key is 32 bytes (AES-256)")
        if not 0.0 <= self.share <= 1.0 or not 0.0 <= self.beside_id <= 1.0:
            raise ValueError("share and beside_id are shares between 0 and 1")


def seal(plaintext: bytes, key: bytes, nonce: bytes) -> bytes:
    """`plaintext` raw-deflated and sealed with AES-256-GCM under `key` and a 12-byte `nonce`."""
    deflater = zlib.compressobj(level=6, wbits=-zlib.MAX_WBITS)
    compressed = deflater.compress(plaintext) + deflater.flush()
    return HEADER + nonce + AESGCM(key).encrypt(nonce, compressed, None)


def sealed_result(population: Population, request_id: str, logs: SealedLogs) -> str:
    """The base64 sealed result of an event, as the page receives it (deterministic: the nonce is keyed)."""
    event = population.event_v3(request_id) if logs.version == 3 else population.event_v4(request_id)
    nonce = population.keyed.rng(f"sealed-nonce:{request_id}").randbytes(12)
    return base64.b64encode(seal(orjson.dumps(event), logs.key, nonce)).decode()
