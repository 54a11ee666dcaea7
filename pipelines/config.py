"""The one place that reads the environment: the documented FINGERPRINT_* and FPWH_* variables.

Names here are a public interface (deployments and scripts set them); the README lists each one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineEnv:
    warehouse_dir: str = "warehouse"
    log_glob: str = "logs/**/*.log*"
    log_format: str = "auto"
    start_date: str = "2025-01-01"
    schedule_timezone: str = "UTC"
    schedule_cron: str = "0 2 * * *"
    max_failed_rate: float = 0.05
    fetch_chunk: int = 200

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineEnv:
        env = os.environ if environ is None else environ
        return cls(
            warehouse_dir=env.get("FPWH_WAREHOUSE_DIR") or cls.warehouse_dir,
            log_glob=env.get("FPWH_LOG_GLOB") or cls.log_glob,
            log_format=env.get("FPWH_LOG_FORMAT") or cls.log_format,
            start_date=env.get("FPWH_START_DATE") or cls.start_date,
            schedule_timezone=env.get("FPWH_SCHEDULE_TIMEZONE") or cls.schedule_timezone,
            schedule_cron=env.get("FPWH_SCHEDULE_CRON") or cls.schedule_cron,
            max_failed_rate=float(env.get("FPWH_MAX_FAILED_RATE") or cls.max_failed_rate),
            fetch_chunk=int(env.get("FPWH_FETCH_CHUNK") or cls.fetch_chunk),
        )

    @staticmethod
    def api_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The non-secret Server API settings present in the environment (the key goes through EnvVar)."""
        env = os.environ if environ is None else environ
        names = {
            "FINGERPRINT_REGION": "region",
            "FINGERPRINT_API_URL": "api_url",
            "FINGERPRINT_API_VERSION": "api_version",
            "FINGERPRINT_RATE_LIMIT_RPS": "rate_limit_rps",
            "FINGERPRINT_RATE_LIMIT_BURST": "rate_limit_burst",
            "FPWH_FETCH_CONCURRENCY": "concurrency",
            "FPWH_FETCH_TIMEOUT_S": "timeout_s",
            "FPWH_FETCH_MAX_ATTEMPTS": "max_attempts",
            "FINGERPRINT_RETENTION_DAYS": "retention_days",
            "FPWH_FETCH_STRATEGY": "fetch_strategy",
            "FPWH_SEARCH_KEEP": "search_keep",
            "FPWH_SEARCH_PAGE_SIZE": "search_page_size",
        }
        return {field: env[name] for name, field in names.items() if env.get(name)}
