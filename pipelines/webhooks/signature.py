"""Webhook signatures: `FPJS-Event-Signature: v1=<hex HMAC-SHA256 of the raw body>[,v1=...,v2=...]`.

Fingerprint signs the raw body with the workspace's webhook secret; during a rotation a request may carry one
`v1=` entry per secret, and future schemes may add other versions (ignored here: we know `v1`). We accept a
body when any `v1` entry matches the HMAC under any of our secrets (several secrets for our side of a rotation).
Every candidate is compared with `hmac.compare_digest`, so the time taken says nothing about how close a forged
signature came. Secrets are held in `WebhookSecrets`, whose repr shows only how many there are.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "FPJS-Event-Signature"
SCHEME = "v1"


class WebhookSecrets:
    """The signing secrets a webhook may be signed with (current and previous); never shown in a repr."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._keys = tuple(s.strip().encode() for s in secrets if s.strip())

    @classmethod
    def from_text(cls, text: str) -> WebhookSecrets:
        """Comma-separated secrets, as FINGERPRINT_WEBHOOK_SECRET holds them during a rotation."""
        return cls(text.split(","))

    def __len__(self) -> int:
        return len(self._keys)

    def digests(self, body: bytes) -> list[bytes]:
        """The hex `v1` signature of `body` under each secret."""
        return [hmac.new(key, body, hashlib.sha256).hexdigest().encode() for key in self._keys]

    def __repr__(self) -> str:
        return f"WebhookSecrets(<{len(self._keys)} secrets>)"

    __str__ = __repr__


def signatures(header: str) -> list[bytes]:
    """The `v1` entries of a signature header, as bytes (other versions and garbage are left out)."""
    found = []
    for entry in header.split(","):
        scheme, equals, value = entry.strip().partition("=")
        if equals and scheme == SCHEME and value:
            found.append(value.strip().lower().encode("utf-8", "replace"))
    return found


def is_signed(header: str | None, body: bytes, secrets: WebhookSecrets) -> bool:
    """Whether `header` holds a `v1` signature of `body` under one of `secrets` (constant-time comparisons)."""
    if not header or not len(secrets):
        return False
    matched = False
    for expected in secrets.digests(body):
        for given in signatures(header):
            matched |= hmac.compare_digest(given, expected)
    return matched
