"""`python -m simulator`: serve options mirror SimulatorConfig; `write-log` writes the demo logs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from simulator.__main__ import main, serve_parser
from simulator.config import SimulatorConfig
from simulator.population import Population

REPO = Path(__file__).resolve().parents[1]


def test_every_config_field_is_a_command_line_option():
    args = serve_parser().parse_args(
        [
            "--port",
            "8787",
            "--seed",
            "5",
            "--rps-limit",
            "5",
            "--retention-days",
            "none",
            "--recorded-dir",
            "/tmp",
            "--fail-5xx-rate",
            "0.05",
            "--truncate-mode",
            "cut-json",
            "--log-requests",
        ]
    )
    config = SimulatorConfig(**vars(args))
    assert (config.port, config.seed, config.rps_limit, config.retention_days) == (8787, 5, 5.0, None)
    assert (config.recorded_dir, config.fail_5xx_rate, config.log_requests) == (Path("/tmp"), 0.05, True)
    assert config.truncate_mode == "cut-json"
    assert set(vars(args)) == {f.name for f in dataclasses.fields(SimulatorConfig)}
    assert SimulatorConfig(**vars(serve_parser().parse_args([]))) == SimulatorConfig()


def test_write_log_writes_three_files_per_day(tmp_path, capsys):
    assert main(["write-log", "--out", str(tmp_path), "--start", "2026-11-01", "--days", "2", "--per-day", "50"]) == 0
    assert len(capsys.readouterr().out.split()) == 6
    assert (tmp_path / "app-2026-11-02.jsonl.gz").is_file()


def test_the_server_runs_as_its_own_process_serving_the_same_events_and_reporting_its_stats():
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--seed", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        url = banner.split(" listening on ")[1].split()[0]
        assert requests.get(f"{url}/_simulator/stats", timeout=5).json()["total"] == 0
        assert requests.get(f"{url}/events/12345.abc", timeout=5).status_code == 403
        assert requests.get(f"{url}/_simulator/stats", timeout=5).json()["total"] == 1
        rid = Population(seed=1).day_events(datetime.now(UTC).date() - timedelta(days=1))[0][1]
        served = requests.get(f"{url}/events/{rid}", headers={"Auth-API-Key": "sim-secret-key"}, timeout=5)
        assert served.json() == Population(seed=1).event_v3(rid), "another process, another hash salt, same event"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
