"""The documented environment variables reach the client settings, and the key only through EnvVar."""

from pathlib import Path

from pipelines.api.settings import ClientSettings
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


def test_the_dagster_resource_and_the_plain_settings_agree_on_every_variable(tmp_path: Path):
    resource = FingerprintApiResource(secret_api_key="sk-test", **PipelineEnv.api_settings(ENV))
    from_resource = resource.client_settings(tmp_path)
    from_env = ClientSettings.from_env(ENV)
    for name in ("region", "rate_limit_rps", "burst_size", "concurrency", "timeout_s", "max_attempts", "base_url"):
        assert getattr(from_resource, name) == getattr(from_env, name), name
    assert from_resource.retention_days == from_env.retention_days == 90
    assert from_resource.base_url == "https://eu.api.fpjs.io"


def test_pipeline_settings_have_documented_defaults():
    env = PipelineEnv.from_env({})
    assert env.warehouse_dir == "warehouse" and env.start_date == "2025-01-01" and env.max_failed_rate == 0.05
    assert PipelineEnv.from_env({"FPWH_WAREHOUSE_DIR": "/data/wh"}).warehouse_dir == "/data/wh"
