"""`fpwh sql`: a query against the current warehouse, local here (the s3 one in tests/test_remote.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.test_cli import fpwh


def sql_env(world, **extra: str) -> dict[str, str]:
    """The world's settings and nothing else: no API key, no Dagster instance (a query needs neither)."""
    return {**world.settings.environment(), **extra}


def test_a_query_prints_the_published_figures_and_needs_no_api_key(planted):
    world = planted.world  # published by the session's fixture: these tests only read
    expected = world.query("SELECT count(*), count(DISTINCT request_id) FROM events")[0]
    done = fpwh("sql", "SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM events", env=sql_env(world))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"│ {expected[0]}" in done.stdout and f"┆ {expected[1]}" in done.stdout
    as_csv = fpwh("sql", "--csv", "SELECT count(*) AS n FROM events", env=sql_env(world))
    assert as_csv.stdout == f"n\n{expected[0]}\n"


def test_a_bad_query_is_one_line_and_exit_1(planted):
    world = planted.world
    done = fpwh("sql", "SELECT nope FROM events", env=sql_env(world))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "nope" in done.stderr


def test_nothing_published_yet_says_so(tmp_path: Path):
    done = fpwh("sql", "SELECT 1", env={"FPWH_WAREHOUSE_DIR": str(tmp_path / "wh")})
    assert done.returncode == 1 and "nothing is published" in done.stderr


def test_a_misconfiguration_is_one_line_per_problem_and_exit_2(tmp_path: Path):
    (tmp_path / "a_file").write_text("")
    env = {"FPWH_WAREHOUSE_DIR": str(tmp_path / "a_file" / "wh"), "FPWH_IP_PRIVACY": "blurred"}
    done = fpwh("sql", "SELECT 1", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert (
        len(lines) == 2 and any("FPWH_WAREHOUSE_DIR" in x for x in lines) and any("FPWH_IP_PRIVACY" in x for x in lines)
    )


def test_without_a_query_it_opens_the_duckdb_shell_read_only_or_says_how(planted, tmp_path: Path):
    world = planted.world
    database = world.warehouse / "fingerprint.duckdb"
    without_cli = fpwh("sql", env={**sql_env(world), "PATH": os.path.dirname(sys.executable)})
    assert without_cli.returncode == 0 and f"duckdb -readonly {database}" in without_cli.stdout
    assert "not on PATH" in without_cli.stdout
    bin_dir = tmp_path / "bin"  # a stand-in `duckdb` that shows how it was started
    bin_dir.mkdir()
    (bin_dir / "duckdb").write_text('#!/bin/sh\necho "duckdb $*"\n')
    (bin_dir / "duckdb").chmod(0o755)
    with_cli = fpwh("sql", env={**sql_env(world), "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert with_cli.returncode == 0 and with_cli.stdout.strip() == f"duckdb -readonly {database}"
