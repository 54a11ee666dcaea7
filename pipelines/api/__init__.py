"""Fingerprint Server API access: settings, the rate-limited retrying client and its result records."""
