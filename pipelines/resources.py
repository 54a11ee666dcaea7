"""Dagster resources: where the warehouse lives, where the logs are, and how to reach the Server API.

Each resource carries one settings group of `pipelines.settings` (declared once, with its environment
variable) and turns it into the objects the assets use; the secret keys (the API's, the privacy hash's) arrive
through `EnvVar`, so the UI shows the variable's name, never its value.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.api.client import FingerprintClient
from pipelines.api.ratelimit import limiter_for
from pipelines.api.secret import Secret
from pipelines.settings import ApiSettings, LogSettings, PrivacySettings, WarehouseSettings
from pipelines.state import StateStore
from pipelines.storage.bronze import Bronze
from transforms.applog import LogOptions
from transforms.privacy import PrivacyPolicy


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse folder: bronze landing, Parquet lake, run state and fingerprint.duckdb."""

    settings: WarehouseSettings = WarehouseSettings()

    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    def bronze(self) -> Bronze:
        return Bronze(self.root / "bronze")

    def state(self) -> StateStore:
        return StateStore(self.root)


class AppLogsResource(dg.ConfigurableResource):
    """Where the application logs are (a glob, `**` allowed) and how to read them."""

    settings: LogSettings = LogSettings()

    @property
    def glob(self) -> str:
        return self.settings.glob

    def options(self) -> LogOptions:
        return LogOptions(format=self.settings.format, max_ids_per_line=self.settings.max_ids_per_line)


class FingerprintApiResource(dg.ConfigurableResource):
    """Server API access. `secret_api_key` must come from `EnvVar("FINGERPRINT_SECRET_API_KEY")`."""

    secret_api_key: str
    settings: ApiSettings = ApiSettings()

    def client(self, state: StateStore) -> FingerprintClient:
        """A client whose rate budget is shared, per key, by every process using this warehouse's state."""
        key = Secret(self.secret_api_key)
        return FingerprintClient(self.settings, key, limiter_for(self.settings, key, state.rate_limit_dir))


class PrivacyResource(dg.ConfigurableResource):
    """How IP addresses and URLs are stored. `key` must come from `EnvVar("FPWH_PRIVACY_KEY")` (hash mode only)."""

    settings: PrivacySettings = PrivacySettings()
    key: str = ""

    def policy(self) -> PrivacyPolicy:
        """The policy the writers apply; the key is kept only where it shapes the stored values (hash mode)."""
        key = self.key.encode() if self.settings.ip == "hash" else b""
        return PrivacyPolicy(self.settings.ip, self.settings.url, key)
