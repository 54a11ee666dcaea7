"""Exceptions of the API client: only conditions that must stop a whole run are raised, never per-ID ones."""

from __future__ import annotations

# Keyed by the v3 spelling; `Dialect.error_name` maps v4's snake_case codes onto it.
_CONFIG_HINTS = {
    "TokenRequired": "check FINGERPRINT_SECRET_API_KEY and FINGERPRINT_REGION / FINGERPRINT_API_URL",
    "TokenNotFound": "check FINGERPRINT_SECRET_API_KEY and FINGERPRINT_REGION / FINGERPRINT_API_URL",
    "WrongRegion": "the key belongs to another region: set FINGERPRINT_REGION (us, eu, ap) or "
    "FINGERPRINT_API_URL to that region's host",
    "SubscriptionNotActive": "the Fingerprint subscription of this key's workspace is not active: check the "
    "account's billing in the Fingerprint dashboard",
    "FeatureNotEnabled": "the Server API feature is not enabled for this account: check the plan in the "
    "Fingerprint dashboard or ask Fingerprint support",
}
_WHAT = {
    "TokenRequired": "rejected the secret key",
    "TokenNotFound": "rejected the secret key",
    "WrongRegion": "refused the region",
    "SubscriptionNotActive": "refused the account",
    "FeatureNotEnabled": "refused the account",
}


class FatalApiError(RuntimeError):
    """The API refused the whole run (403): retrying or going on with other IDs cannot help.

    The message names what to fix; it never contains the secret key.
    """

    def __init__(self, message: str, *, http_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code

    @classmethod
    def forbidden(cls, code: str | None, api_message: str | None, name: str | None = None) -> FatalApiError:
        """The error for a 403 with API error `code` (None when the body had none); `name`: its v3 spelling."""
        label = code or "Forbidden"
        known = name or label
        what = _WHAT.get(known, "refused the request")
        hint = _CONFIG_HINTS.get(
            known,
            "check FINGERPRINT_SECRET_API_KEY, FINGERPRINT_REGION / FINGERPRINT_API_URL and the account's "
            "status in the Fingerprint dashboard",
        )
        detail = f" The API said: {api_message}." if api_message else ""
        return cls(f"Fingerprint {what} (403 {label}): {hint}.{detail}", http_status=403, code=code)
