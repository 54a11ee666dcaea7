"""Dagster resources: where the warehouse lives, where the logs are, and how to reach the Server API.

Each resource carries one settings group of `pipelines.settings` (declared once, with its environment
variable) and turns it into the objects the assets use; the secret keys (the API's, the privacy hash's) arrive
through `EnvVar`, so the UI shows the variable's name, never its value.
"""

from __future__ import annotations

import dagster as dg

from pipelines.api.client import FingerprintClient
from pipelines.api.ratelimit import limiter_for
from pipelines.api.secret import Secret
from pipelines.settings import ApiSettings, LogSettings, PrivacySettings, WarehouseSettings
from pipelines.state import StateStore
from pipelines.storage.warehouse import Warehouse
from pipelines.tables import open_warehouse
from transforms.applog import LogOptions
from transforms.privacy import PrivacyPolicy
from transforms.sealed import SealedKeys


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: bronze landing, Iceberg lake, run state, publication and fingerprint.duckdb."""

    settings: WarehouseSettings = WarehouseSettings()

    def store(self) -> Warehouse:
        """The process's `Warehouse` for these settings (one catalog connection pool per process)."""
        return open_warehouse(self.settings)

    @property
    def location(self) -> str:
        return self.settings.location.uri()


class AppLogsResource(dg.ConfigurableResource):
    """Where the application logs are (a glob, `**` allowed) and how to read them.

    `sealed_keys` opens sealed client results logged beside or instead of request IDs: it must come from
    `EnvVar("FINGERPRINT_SEALED_KEYS")` ("" when sealed results are not used).
    """

    settings: LogSettings = LogSettings()
    sealed_keys: str = ""

    @property
    def glob(self) -> str:
        return self.settings.glob

    def options(self) -> LogOptions:
        keys = SealedKeys.from_base64(self.sealed_keys) if self.sealed_keys.strip() else None
        return LogOptions(
            format=self.settings.format,
            max_ids_per_line=self.settings.max_ids_per_line,
            sealed_fields=self.settings.sealed_field_names,
            sealed_keys=keys,
        )


class FingerprintApiResource(dg.ConfigurableResource):
    """Server API access. `secret_api_key` must come from `EnvVar("FINGERPRINT_SECRET_API_KEY")`."""

    secret_api_key: str
    settings: ApiSettings = ApiSettings()

    def client(self, state: StateStore) -> FingerprintClient:
        """A client whose rate budget is shared, per key, by every run using this warehouse's catalog database
        (every machine with PostgreSQL, every process of this machine otherwise)."""
        key = Secret(self.secret_api_key)
        limiter = limiter_for(self.settings, key, state.rate_limit_dir, state.engine)
        return FingerprintClient(self.settings, key, limiter)


class PrivacyResource(dg.ConfigurableResource):
    """How IP addresses and URLs are stored. `key` must come from `EnvVar("FPWH_PRIVACY_KEY")` (hash mode only)."""

    settings: PrivacySettings = PrivacySettings()
    key: str = ""

    def policy(self) -> PrivacyPolicy:
        """The policy the writers apply; the key is kept only where it shapes the stored values (hash mode)."""
        key = self.key.encode() if self.settings.ip == "hash" else b""
        return PrivacyPolicy(self.settings.ip, self.settings.url, key)
