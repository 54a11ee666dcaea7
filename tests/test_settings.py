"""Settings: every documented variable reaches its setting, and every mistake is one line naming the variable."""

from pathlib import Path

import pytest

from pipelines.resources import FingerprintApiResource
from pipelines.settings import Settings, SettingsError

ENV = {
    "FINGERPRINT_SECRET_API_KEY": "sk-test",
    "FINGERPRINT_REGION": "EU",
    "FINGERPRINT_RATE_LIMIT_RPS": "2.5",
    "FINGERPRINT_RATE_LIMIT_BURST": "4",
    "FPWH_FETCH_CONCURRENCY": "3",
    "FPWH_FETCH_TIMEOUT_S": "7",
    "FPWH_FETCH_MAX_ATTEMPTS": "2",
    "FINGERPRINT_RETENTION_DAYS": "90",
    "FPWH_FETCH_STRATEGY": "search",
}


def test_every_documented_variable_reaches_its_setting():
    settings = Settings.from_env(ENV)
    api = settings.api
    assert api.region == "eu" and api.root_url == "https://eu.api.fpjs.io"
    assert (api.rate_limit_rps, api.burst_size) == (2.5, 4.0)
    assert (api.concurrency, api.timeout_s, api.max_attempts) == (3, 7.0, 2)
    assert api.retention_days == 90 and api.fetch_strategy == "search"
    resource = FingerprintApiResource(secret_api_key="sk-test", settings=api)
    assert resource.settings == api


def test_settings_have_documented_defaults():
    settings = Settings.from_env({}, require_key=False)
    assert settings.warehouse.directory == "warehouse" and settings.schedule.start_date == "2025-01-01"
    assert settings.schedule.max_failed_rate == 0.05 and settings.api.fetch_strategy == "auto"
    assert Settings.from_env({"FPWH_WAREHOUSE_DIR": "/data/wh"}, require_key=False).warehouse.directory == "/data/wh"


def test_every_problem_is_reported_at_once_one_line_each_naming_the_variable(tmp_path: Path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    env = {
        "FPWH_START_DATE": "garbage",
        "FINGERPRINT_REGION": "useast",
        "FINGERPRINT_API_VERSION": "5",
        "FPWH_FETCH_STRATEGY": "fastest",
        "FPWH_WAREHOUSE_DIR": str(a_file / "wh"),
        "FPWH_SCHEDULE_TIMEZONE": "Mars/Olympus",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    problems = caught.value.problems
    for variable in [*env, "FINGERPRINT_SECRET_API_KEY"]:
        assert sum(line.startswith(variable) for line in problems) == 1, (variable, problems)
    assert len(problems) == len(env) + 1 and all("\n" not in line for line in problems)


def test_the_secret_key_is_never_echoed_back():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"FINGERPRINT_SECRET_API_KEY": "sk-live secret\n"})
    assert "sk-live" not in str(caught.value) and "FINGERPRINT_SECRET_API_KEY" in str(caught.value)


def test_a_copy_with_changes_is_validated():
    settings = Settings().replace(api={"api_version": 4})
    assert settings.api.api_version == 4 and Settings().api.api_version == 3
    with pytest.raises(ValueError, match="3 or 4"):
        Settings().replace(api={"api_version": 2})


def test_the_refresh_window_defaults_to_the_api_update_window_capped_by_retention():
    assert Settings.from_env({}, require_key=False).api.refresh_window_days == 10
    v4 = Settings.from_env({"FINGERPRINT_API_VERSION": "4"}, require_key=False).api
    assert v4.refresh_window_days == 30  # a month of updates, but only 30 days of events to re-read
    long_plan = Settings.from_env(
        {"FINGERPRINT_API_VERSION": "4", "FINGERPRINT_RETENTION_DAYS": "90"}, require_key=False
    )
    assert long_plan.api.refresh_window_days == 31
    assert Settings.from_env({"FPWH_REFRESH_DAYS": "0"}, require_key=False).api.refresh_window_days == 0


def test_privacy_and_retention_settings_are_read_and_checked_together():
    env = {"FPWH_IP_PRIVACY": "truncate", "FPWH_URL_PRIVACY": "strip_query", "FPWH_RAW_RETENTION_DAYS": "60"}
    settings = Settings.from_env(env, require_key=False)
    assert (settings.privacy.ip, settings.privacy.url, settings.warehouse.raw_retention_days) == (
        "truncate",
        "strip_query",
        60,
    )
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"FPWH_RAW_RETENTION_DAYS": "10", "FPWH_URL_PRIVACY": "drop"}, require_key=False)
    problems = caught.value.problems
    assert [p.split("=")[0] for p in problems] == ["FPWH_URL_PRIVACY"]  # the retention check waits for valid input
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"FPWH_RAW_RETENTION_DAYS": "10"}, require_key=False)
    (retention,) = caught.value.problems
    assert retention.startswith("FPWH_RAW_RETENTION_DAYS='10': not above the refresh window (10 days")


def test_the_hash_mode_needs_a_long_enough_privacy_key_that_is_never_echoed_back():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"FPWH_IP_PRIVACY": "hash", "FPWH_PRIVACY_KEY": "short-secret"}, require_key=False)
    (problem,) = caught.value.problems
    assert problem.startswith("FPWH_PRIVACY_KEY is shorter than 16 characters") and "short-secret" not in problem
    with pytest.raises(SettingsError, match="FPWH_PRIVACY_KEY is not set"):
        Settings.from_env({"FPWH_IP_PRIVACY": "hash"}, require_key=False)
    settings = Settings.from_env({"FPWH_IP_PRIVACY": "hash", "FPWH_PRIVACY_KEY": "k" * 16}, require_key=False)
    assert "FPWH_PRIVACY_KEY" not in settings.environment() and "k" * 16 not in repr(settings)
