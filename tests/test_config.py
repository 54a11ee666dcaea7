"""The documented environment variables reach the client settings, and the key only through EnvVar."""

from pathlib import Path

from pipelines.config import PipelineEnv
from pipelines.resources import FingerprintApiResource

ENV = {
    "FINGERPRINT_SECRET_API_KEY": "sk-test",
    "FINGERPRINT_REGION": "eu",
    "FINGERPRINT_RATE_LIMIT_RPS": "2.5",
    "FINGERPRINT_RATE_LIMIT_BURST": "4",
    "FPWH_FETCH_CONCURRENCY": "3",
    "FPWH_FETCH_TIMEOUT_S": "7",
    "FPWH_FETCH_MAX_ATTEMPTS": "2",
    "FINGERPRINT_RETENTION_DAYS": "90",
}


def test_every_documented_variable_reaches_the_client_settings(tmp_path: Path):
    resource = FingerprintApiResource(secret_api_key="sk-test", **PipelineEnv.api_settings(ENV))
    settings = resource.client_settings(tmp_path)
    assert settings.api_key.reveal() == "sk-test"
    assert settings.region == "eu" and settings.base_url == "https://eu.api.fpjs.io"
    assert (settings.rate_limit_rps, settings.burst_size) == (2.5, 4.0)
    assert (settings.concurrency, settings.timeout_s, settings.max_attempts) == (3, 7.0, 2)
    assert settings.retention_days == 90


def test_pipeline_settings_have_documented_defaults():
    env = PipelineEnv.from_env({})
    assert env.warehouse_dir == "warehouse" and env.start_date == "2025-01-01" and env.max_failed_rate == 0.05
    assert PipelineEnv.from_env({"FPWH_WAREHOUSE_DIR": "/data/wh"}).warehouse_dir == "/data/wh"
