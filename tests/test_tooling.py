"""Current Dagster tooling works on the project as it is: `dg check defs` and `dg list defs` (from `[tool.dg]`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).parent / "dg"


def dg(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FINGERPRINT_SECRET_API_KEY": "sk-placeholder"}
    return subprocess.run([str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_dg_check_defs_loads_every_definition():
    proc = dg("check", "defs")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr


def test_dg_list_defs_shows_the_assets_checks_job_schedule_and_sensor_and_leaves_no_temporary_home():
    proc = dg("list", "defs", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = json.loads(proc.stdout)
    assets = {asset["asset_key"]: asset["group_name"] for asset in listed["assets"]}
    assert assets["app_log_occurrences"] == "ingest" and assets["events"] == "silver"
    assert assets["duckdb_warehouse"] == "warehouse" and assets["dashboard"] == "analytics"
    checks = {check["name"] for check in listed["asset_checks"]}
    assert {"day_has_logged_request_ids", "failed_fetch_rate_below_threshold", "no_unknown_api_fields"} <= checks
    assert sorted(j["name"] for j in listed["jobs"]) == ["daily_warehouse", "forget_visitors"]
    assert [s["name"] for s in listed["schedules"]] == ["nightly"]
    assert [s["name"] for s in listed["sensors"]] == ["log_file_sensor"]
    assert not list(REPO.glob(".tmp_dagster_home_*"))
