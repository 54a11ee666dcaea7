"""Dagster resources: where the warehouse lives, where the logs are, and how to reach the Server API."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from pipelines.api.client import FingerprintClient
from pipelines.api.settings import ClientSettings, Secret
from pipelines.storage.bronze import Bronze
from transforms.applog import LogOptions


class WarehouseResource(ConfigurableResource):
    """The warehouse folder: bronze landing, Parquet lake and fingerprint.duckdb."""

    directory: str = "warehouse"

    @property
    def root(self) -> Path:
        return Path(self.directory).resolve()

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def state(self) -> Path:
        """Work queues (the request IDs still to fetch per day)."""
        return self.root / "state"

    @property
    def duckdb_path(self) -> Path:
        return self.root / "fingerprint.duckdb"

    def bronze(self) -> Bronze:
        return Bronze(self.root / "bronze")


class AppLogsResource(ConfigurableResource):
    """Where the application logs are (a glob, `**` allowed) and how to read them."""

    glob: str = "logs/**/*.log*"
    format: str = "auto"

    def options(self) -> LogOptions:
        return LogOptions(format=self.format)


class FingerprintApiResource(ConfigurableResource):
    """Server API access. `secret_api_key` must come from `EnvVar("FINGERPRINT_SECRET_API_KEY")`."""

    secret_api_key: str
    region: str = "us"
    api_url: str | None = None
    api_version: int = 3
    rate_limit_rps: float = 5.0
    rate_limit_burst: float | None = None
    concurrency: int = 8
    timeout_s: float = 10.0
    max_attempts: int = 6
    retention_days: int = 30
    fetch_strategy: str = Field(
        default="auto", description="by_id, search or auto (the cheaper per day; see pipelines.strategy)"
    )
    search_keep: str = Field(default="logged", description="search lands the logged events only, or all")
    search_page_size: int | None = Field(default=None, description="events per search page (None = the max)")

    def client_settings(self, rate_limit_dir: Path) -> ClientSettings:
        return ClientSettings(
            api_key=Secret(self.secret_api_key),
            region=self.region,
            api_url=self.api_url,
            api_version=self.api_version,
            rate_limit_rps=self.rate_limit_rps,
            burst=self.rate_limit_burst,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            retention_days=self.retention_days,
            rate_limit_dir=str(rate_limit_dir),
        )

    def client(self, rate_limit_dir: Path) -> FingerprintClient:
        return FingerprintClient(self.client_settings(rate_limit_dir))
