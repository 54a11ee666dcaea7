"""Client settings and the masked secret (built by `pipelines.resources` from the variables in `pipelines.config`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

REGION_HOSTS = {
    "us": "https://api.fpjs.io",
    "global": "https://api.fpjs.io",
    "eu": "https://eu.api.fpjs.io",
    "ap": "https://ap.api.fpjs.io",
}


class Secret:
    """A secret string whose repr and str never reveal it; `.reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A short non-reversible tag, so per-key state (the rate-limit bucket) can be keyed by it."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self):  # never pickle the secret into run storage by accident
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the Server API and how hard to push it.

    Defaults follow Fingerprint's documented limits: 5 requests/s per secret key, burst bucket 3x that.
    """

    api_key: Secret
    region: str = "us"
    api_url: str | None = None
    api_version: int = 3
    rate_limit_rps: float = 5.0
    burst: float | None = None
    concurrency: int = 8
    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    retention_days: int = 30
    rate_limit_dir: str | None = None

    @property
    def base_url(self) -> str:
        """The API base every path is appended to: the server root for v3, root + `/v4` for v4.

        `FINGERPRINT_API_URL` names the server root for either version (`http://localhost:8080` for the
        simulator), so switching FINGERPRINT_API_VERSION needs no other change; a URL already ending in
        `/v4` is taken as the v4 base.
        """
        root = self.root_url
        if self.api_version == 4 and not root.endswith("/v4"):
            return root + "/v4"
        return root

    @property
    def root_url(self) -> str:
        """The server root: FINGERPRINT_API_URL when set, else the region's host."""
        if self.api_url:
            return self.api_url.rstrip("/")
        try:
            return REGION_HOSTS[self.region.lower()]
        except KeyError:
            raise ValueError(
                f"FINGERPRINT_REGION={self.region!r} is not one of us, eu, ap: set it to your "
                "application's region or set FINGERPRINT_API_URL"
            ) from None

    @property
    def burst_size(self) -> float:
        return self.burst if self.burst is not None else 3 * self.rate_limit_rps
