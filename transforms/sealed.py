"""Sealed client results: the full event, encrypted by Fingerprint for the customer's own backend, opened here.

With sealed client results on, the JavaScript agent hands the page an opaque `sealedResult` instead of only a
request ID; the application may log it, and the event inside costs no Server API call. The format, as the
official SDKs' `unseal` reads it: the 4-byte header `9E 85 DC ED`, a 12-byte nonce, then AES-256-GCM
ciphertext whose last 16 bytes are the tag; the plaintext is raw-deflate compressed JSON, the event exactly as
`GET /events/{id}` returns it in the workspace's API version (v3 `{"products": ...}`, v4 the flat event).

Keys rotate: every key of `SealedKeys` is tried, so a result sealed just before a rotation still opens. A
result that cannot be used is never an exception: `unseal` returns the reason (one of `REASONS`), and the
caller counts it. Pure: bytes and keys in, event bytes or a reason out; no key ever appears in a repr or message.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from transforms.dialects import dialect

HEADER = bytes([0x9E, 0x85, 0xDC, 0xED])
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32  # AES-256
# A sealed event inflates to some kB; a cap keeps a forged "zip bomb" from taking the reader's memory.
MAX_PLAIN_BYTES = 4 << 20

REASONS: dict[str, str] = {
    "sealed_no_keys": "A sealed result, but FINGERPRINT_SEALED_KEYS is not set: it cannot be opened.",
    "sealed_malformed": "Not a sealed result: not base64, a wrong header, or too short to hold nonce and tag.",
    "sealed_undecryptable": "No configured key opens it: a key missing from FINGERPRINT_SEALED_KEYS, or tampered.",
    "sealed_not_event": "It opens, but holds no event: not raw-deflate JSON, or not an event of API v3 or v4.",
}


class SealedKeys:
    """The AES-256 keys sealed results may be encrypted with (current and previous, for rotation).

    Held as cipher objects; `repr` and `str` show only how many there are.
    """

    def __init__(self, keys: Iterable[bytes]) -> None:
        raw = list(keys)
        wrong = [i + 1 for i, key in enumerate(raw) if len(key) != KEY_BYTES]
        if wrong:
            numbers = ", ".join(map(str, wrong))
            raise ValueError(f"sealed key number {numbers}: not {KEY_BYTES} bytes (AES-256) once base64-decoded")
        self._ciphers = tuple(AESGCM(key) for key in raw)

    @classmethod
    def from_base64(cls, text: str) -> SealedKeys:
        """Keys as the dashboard shows them, base64, comma-separated; ValueError names bad ones by position only."""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        decoded: list[bytes] = []
        for number, part in enumerate(parts, 1):
            try:
                decoded.append(base64.b64decode(part, validate=True))
            except (binascii.Error, ValueError):
                raise ValueError(f"sealed key number {number} is not base64") from None
        return cls(decoded)

    def __len__(self) -> int:
        return len(self._ciphers)

    def open(self, nonce: bytes, ciphertext: bytes) -> bytes | None:
        """The plaintext under the first key whose tag checks, or None when none does."""
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, ciphertext, None)
            except InvalidTag:
                continue
        return None

    def __repr__(self) -> str:
        return f"SealedKeys(<{len(self._ciphers)} keys>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Unsealed:
    """An opened sealed result: the event's request ID, API version, timestamp (epoch ms, if any) and JSON."""

    request_id: str
    api_version: int
    timestamp_ms: int | None
    body: bytes


def unseal(sealed: bytes, keys: SealedKeys | None) -> Unsealed | str:
    """The event inside `sealed` (raw bytes), or the reason it cannot be used (a key of `REASONS`)."""
    if not keys:
        return "sealed_no_keys"
    if not sealed.startswith(HEADER) or len(sealed) < len(HEADER) + NONCE_BYTES + TAG_BYTES:
        return "sealed_malformed"
    nonce, ciphertext = sealed[len(HEADER) : len(HEADER) + NONCE_BYTES], sealed[len(HEADER) + NONCE_BYTES :]
    compressed = keys.open(nonce, ciphertext)
    if compressed is None:
        return "sealed_undecryptable"
    body = _inflate(compressed)
    return "sealed_not_event" if body is None else _as_event(body)


def unseal_base64(text: str, keys: SealedKeys | None) -> Unsealed | str:
    """`unseal` of a base64 string, as an application logs it (standard or URL-safe alphabet, padding optional)."""
    if not keys:
        return "sealed_no_keys"
    try:
        sealed = base64.b64decode(_padded(text).replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return "sealed_malformed"
    return unseal(sealed, keys)


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _inflate(compressed: bytes) -> bytes | None:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        body = inflater.decompress(compressed, MAX_PLAIN_BYTES)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail or not inflater.eof else body


def _as_event(body: bytes) -> Unsealed | str:
    try:
        event: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "sealed_not_event"
    version = 3 if isinstance(event, dict) and "products" in event else 4
    api = dialect(version)
    if api.shape_problem(event) is not None:
        return "sealed_not_event"
    request_id, timestamp = api.search_item_identity(event) or (None, None)
    if request_id is None:
        return "sealed_not_event"
    return Unsealed(request_id, version, timestamp, body)
