"""`fpwh run` and `fpwh check` as an operator runs them: real processes, the simulator over HTTP, a real instance."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

REPO = Path(__file__).resolve().parents[1]
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
# not complete on the day the module is collected, nor after a midnight that passes before the test runs
TOMORROW = datetime.now(UTC).date() + timedelta(days=1)


def fpwh(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`fpwh ARGS` (the entry point's module) in a clean environment holding only `env` and the basics."""
    basics = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=REPO,
        env={**basics, "DAGSTER_DISABLE_TELEMETRY": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def world_env(world, home: Path) -> dict[str, str]:
    return {**world.settings.environment(), "FINGERPRINT_SECRET_API_KEY": world.sim.api_key, "DAGSTER_HOME": str(home)}


@pytest.fixture
def valid_env(tmp_path: Path) -> dict[str, str]:
    """A configuration with nothing wrong: a key, a log file, a warehouse folder and an instance folder."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("")
    (tmp_path / "a_file").write_text("")
    return {
        "FINGERPRINT_SECRET_API_KEY": "sk-test-key",
        "FPWH_LOG_GLOB": str(tmp_path / "logs" / "*.log"),
        "FPWH_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }


MISCONFIGURATIONS = {
    "start date not a date": ({"FPWH_START_DATE": "garbage"}, str(YESTERDAY), ["FPWH_START_DATE"]),
    "day before the start date": ({"FPWH_START_DATE": "2025-01-01"}, "2024-12-20", ["FPWH_START_DATE"]),
    "day not complete yet": ({}, str(TOMORROW), ["DAY"]),
    "day not a date": ({}, "yesterday", ["DAY"]),
    "range backwards": ({}, f"{YESTERDAY}..{YESTERDAY - timedelta(days=3)}", ["DAY"]),
    "warehouse under a file": (
        {"FPWH_WAREHOUSE_DIR": "{tmp}/a_file/warehouse"},
        str(YESTERDAY),
        ["FPWH_WAREHOUSE_DIR"],
    ),
    "no secret key": ({"FINGERPRINT_SECRET_API_KEY": None}, str(YESTERDAY), ["FINGERPRINT_SECRET_API_KEY"]),
    "region typo": ({"FINGERPRINT_REGION": "useast"}, str(YESTERDAY), ["FINGERPRINT_REGION"]),
    "api version typo": ({"FINGERPRINT_API_VERSION": "5"}, str(YESTERDAY), ["FINGERPRINT_API_VERSION"]),
    "log glob matches nothing": ({"FPWH_LOG_GLOB": "{tmp}/nowhere/*.log"}, str(YESTERDAY), ["FPWH_LOG_GLOB"]),
    "dagster home under a file": ({"DAGSTER_HOME": "{tmp}/a_file/home"}, str(YESTERDAY), ["DAGSTER_HOME"]),
    "everything at once": (
        {
            "FPWH_START_DATE": "2025-13-01",
            "FINGERPRINT_REGION": "mars",
            "FINGERPRINT_API_VERSION": "2",
            "FINGERPRINT_SECRET_API_KEY": None,
            "FPWH_WAREHOUSE_DIR": "{tmp}/a_file/wh",
        },
        "2026-02-30",
        [
            "FPWH_START_DATE",
            "FINGERPRINT_REGION",
            "FINGERPRINT_API_VERSION",
            "FINGERPRINT_SECRET_API_KEY",
            "FPWH_WAREHOUSE_DIR",
            "DAY",
        ],
    ),
}


@pytest.mark.parametrize(("changes", "days", "named"), MISCONFIGURATIONS.values(), ids=MISCONFIGURATIONS.keys())
def test_a_misconfiguration_stops_before_any_work_with_one_line_per_problem_and_exit_2(
    tmp_path: Path, valid_env: dict[str, str], changes: dict, days: str, named: list[str]
):
    env = {**valid_env, **{k: v.format(tmp=tmp_path) for k, v in changes.items() if v is not None}}
    env = {k: v for k, v in env.items() if changes.get(k, "") is not None}
    run = fpwh("run", days, env=env)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert len(lines) == len(named) and all(line.startswith("fpwh: ") for line in lines), lines
    for variable in named:
        assert sum(line.removeprefix("fpwh: ").startswith(variable) for line in lines) == 1, (variable, lines)
    assert not (tmp_path / "warehouse").exists() and not (tmp_path / "dagster_home").exists()  # no work started


def test_a_day_before_the_start_date_is_told_the_valid_range(valid_env: dict[str, str]):
    run = fpwh("run", "2024-12-20..2025-01-03", env={**valid_env, "FPWH_START_DATE": "2025-01-01"})
    assert run.returncode == 2
    assert f"choose days from 2025-01-01 to {YESTERDAY}" in run.stderr


def test_the_secret_key_is_never_echoed_even_when_it_is_the_problem(valid_env: dict[str, str]):
    run = fpwh("check", "--offline", env={**valid_env, "FINGERPRINT_SECRET_API_KEY": "sk-live secret"})
    assert run.returncode == 2 and "FINGERPRINT_SECRET_API_KEY" in run.stderr
    assert "sk-live" not in run.stdout + run.stderr


def test_check_offline_says_what_the_configuration_points_at_without_calling_the_api(valid_env: dict[str, str]):
    run = fpwh("check", "--offline", env=valid_env)
    assert run.returncode == 0, run.stderr
    assert "matches 1 files" in run.stdout and "not published yet" in run.stdout
    assert "not called (--offline)" in run.stdout


def test_check_reaches_the_api_with_one_call_and_reports_a_refused_key_in_one_line(valid_env, shared_simulator):
    env = {**valid_env, "FINGERPRINT_API_URL": shared_simulator.url, "FINGERPRINT_RATE_LIMIT_RPS": "0"}
    before = shared_simulator.stats()["total"]
    accepted = fpwh("check", env={**env, "FINGERPRINT_SECRET_API_KEY": shared_simulator.api_key})
    assert accepted.returncode == 0, accepted.stderr
    assert "key accepted" in accepted.stdout and shared_simulator.stats()["total"] == before + 1
    refused = fpwh("check", env={**env, "FINGERPRINT_SECRET_API_KEY": "sk-wrong-key"})
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    (api_line,) = [line for line in refused.stdout.splitlines() if line.startswith("api")]
    assert "FINGERPRINT_SECRET_API_KEY" in api_line and "sk-wrong-key" not in refused.stdout + refused.stderr


def test_a_range_runs_each_day_as_its_own_partition_in_one_process_and_closes_with_a_summary(world, tmp_path):
    home = tmp_path / "dagster_home"
    run = fpwh("run", f"{world.days[0]}..{world.days[1]}", env=world_env(world, home))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Warning" not in run.stderr  # no SupersessionWarning, BetaWarning, ...
    assert "DEBUG" not in run.stderr and " - INFO - " in run.stderr  # the assets' INFO lines, not every step event
    for day in world.days:
        ok = world.query("SELECT count(*) FROM fetches_latest WHERE day = ? AND outcome = 'ok'", [day])[0][0]
        logged = world.query("SELECT count(DISTINCT request_id) FROM app_requests WHERE day = ?", [day])[0][0]
        block = run.stdout.split(f"{day}  ok in ")[1].split("\n  checks")[0]
        assert f"{logged} request IDs logged" in block and f"ok {ok} ·" in block
    assert "2 of 2 days ok" in run.stdout and str(world.warehouse / "fingerprint.duckdb") in run.stdout
    with DagsterInstance.from_config(str(home)) as instance:  # what `dagster dev` shows afterwards
        runs = instance.get_runs()
        assert sorted(r.tags["dagster/partition"] for r in runs) == [d.isoformat() for d in world.days]
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        for r in runs:
            checks = instance.all_logs(r.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
            assert len(checks) == 8  # day_is_complete included


def test_two_first_runs_at_once_on_a_fresh_dagster_home_both_succeed(world, tmp_path):
    home = tmp_path / "fresh_home"
    env = {**os.environ, **world_env(world, home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    command = [sys.executable, "-m", "pipelines.cli", "run"]
    runs = [
        subprocess.Popen([*command, str(day)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for day in world.days
    ]
    outcomes = [(proc.communicate(timeout=300)[1].decode(), proc.returncode)[::-1] for proc in runs]  # pipes drained
    assert [code for code, _ in outcomes] == [0, 0], [err[-2000:] for _, err in outcomes]
    with DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs()) == 2


def test_a_day_with_nothing_to_do_is_not_run_again_until_its_logs_change_or_force(world, tmp_path):
    env, day = world_env(world, tmp_path / "dagster_home"), world.days[0]
    assert fpwh("run", str(day), env=env).returncode == 0
    calls = world.event_calls()
    again = fpwh("run", str(day), env=env)
    assert again.returncode == 0 and f"{day}  up to date" in again.stdout and world.event_calls() == calls
    logfmt = world.root / "logs" / f"app-{day.isoformat()}.logfmt"
    with logfmt.open("ab") as fh:  # a late line for the day arrives
        fh.write(f'msg="login" fpRequestId="{world.sim.population.day_events(day)[0][1]}"\n'.encode())
    changed = fpwh("run", str(day), env=env)
    assert changed.returncode == 0 and f"{day}  ok in" in changed.stdout
    forced = fpwh("run", "--force", str(day), env=env)
    assert forced.returncode == 0 and f"{day}  ok in" in forced.stdout
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert len(instance.get_runs()) == 3  # the up-to-date day made no run
