"""Keyed hashing for every identifier and random stream the simulator derives.

Everything the simulator serves is a pure function of the seed and a request ID, so two processes started with
the same seed agree without sharing state. The request ID itself is signed: its 6-character suffix is a keyed
hash of (epoch-ms prefix, collision index j), so whether an ID "exists" is a hash check, not a table lookup.
Python's built-in `hash()` is salted per process and must never be used for any of this.
"""

from __future__ import annotations

import random
import re
from hashlib import blake2b

REQUEST_ID_RE = re.compile(r"^\d{13}\.[A-Za-z0-9]{6}$")
MAX_COLLISION_INDEX = 7  # j in 0..7: up to 8 events may share one millisecond prefix
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_SPACE = 62**6


def base62(n: int, width: int) -> str:
    """`n` in base 62, left-padded to `width` digits (most significant first, truncated to `width`)."""
    chars = []
    for _ in range(width):
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    return "".join(reversed(chars))


class Keyed:
    """A seed turned into a hash key: stable integers, strings and RNGs derived from text labels."""

    __slots__ = ("_key", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._key = blake2b(f"fpwh-simulator:{seed}".encode(), digest_size=32).digest()

    def int64(self, label: str) -> int:
        """A 64-bit unsigned integer determined by (seed, label)."""
        return int.from_bytes(blake2b(label.encode(), key=self._key, digest_size=8).digest(), "big")

    def unit(self, label: str) -> float:
        """A float in [0, 1) determined by (seed, label)."""
        return self.int64(label) / 2**64

    def rng(self, label: str) -> random.Random:
        """A private random stream for (seed, label); cheap enough to create per event."""
        return random.Random(self.int64(label))

    def token(self, label: str, width: int) -> str:
        """A base62 string of `width` characters determined by (seed, label)."""
        digest = blake2b(label.encode(), key=self._key, digest_size=16).digest()
        return base62(int.from_bytes(digest, "big"), width)

    def request_id(self, prefix_ms: int, j: int) -> str:
        """The signed request ID for a 13-digit millisecond prefix and collision index j."""
        prefix = f"{prefix_ms:013d}"
        suffix = base62(self.int64(f"rid:{prefix}:{j}") % _SUFFIX_SPACE, 6)
        return f"{prefix}.{suffix}"

    def is_signed(self, request_id: str) -> bool:
        """True when `request_id` is well formed and its suffix matches one of the collision indexes."""
        if not REQUEST_ID_RE.match(request_id):
            return False
        prefix_ms = int(request_id[:13])
        return any(self.request_id(prefix_ms, j) == request_id for j in range(MAX_COLLISION_INDEX + 1))


def prefix_ms(request_id: str) -> int:
    """The epoch-millisecond prefix of a well-formed request ID."""
    return int(request_id[:13])
