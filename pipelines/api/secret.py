"""The masked secret: the Server API key travels through the code as a `Secret`, never as a plain string."""

from __future__ import annotations

import hashlib


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

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the secret replaced by `***` (for API messages that echo input)."""
        return text.replace(self._value, "***") if self._value else text

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self):  # never pickle the secret into run storage by accident
        raise TypeError("Secret values cannot be pickled")
