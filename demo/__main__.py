"""`./fpwh demo`: the whole warehouse on embedded defaults, end to end, in about a minute.

Starts the bundled Server API simulator, writes a demo application log for the last three complete UTC
days, materializes every asset of those partitions through Dagster (the dashboard included), runs two queries
from sql/queries and tells the user where the dashboard is and how to open the Dagster UI and the DuckDB file.

Push mode is on: a share of the log lines carry sealed results (opened with a demo key), and the simulator
pushes a share of the last day's events as signed webhooks to `./fpwh webhooks serve`, so part of the events
cost no API call; the demo prints how each logged event of the last day arrived.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from simulator.applog import write_demo_logs
from simulator.population import Population
from simulator.sealed import SealedLogs
from simulator.server import SimulatorConfig, start
from simulator.webhooks import send_day

INSTANCE_YAML = """\
# Written by ./fpwh demo. Runs that fetch from the Server API share the pool `fingerprint_api`,
# so parallel backfills never exceed one key's rate limit (the client's file-based limiter also holds).
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""


# Demo-only secrets: the simulator plays Fingerprint, so it knows them too.
DEMO_SEALED_KEY = base64.b64encode(bytes(range(32))).decode()
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"
PUSH_SHARE = 0.3  # of the last day's events pushed by webhook, and of its log lines sealed


# Show the run's INFO lines (fetch progress, warnings), not Dagster's step-by-step DEBUG events.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./fpwh demo", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=150, help="logged requests per day")
    parser.add_argument("--workdir", default=".demo", help="where the demo logs and Dagster home go")
    parser.add_argument("--warehouse", default=os.environ.get("FPWH_WAREHOUSE_DIR", "warehouse"))
    args = parser.parse_args(argv)

    started = time.monotonic()
    workdir = Path(args.workdir).resolve()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(args.days, 0, -1)]
    problems = _setting_problems(workdir, Path(args.warehouse).resolve(), days)
    if problems:
        print("\n".join(f"fpwh demo: {line}" for line in problems), file=sys.stderr)
        return 2

    with start(SimulatorConfig(port=0, seed=1)) as sim:
        logs = workdir / "logs"
        sealed = SealedLogs(base64.b64decode(DEMO_SEALED_KEY), PUSH_SHARE)
        files = write_demo_logs(sim.population, logs, days[0], args.days, args.per_day, sealed=sealed)
        print(f"simulator at {sim.url}; wrote {len(files)} demo log files to {logs} (some with sealed results)")
        _configure_environment(sim.url, sim.api_key, logs, Path(args.warehouse).resolve(), workdir)
        _push_webhooks(sim.population, days[-1])
        _materialize([d.isoformat() for d in days])
    _print_queries(Path(args.warehouse).resolve())
    print(f"\n{unknown_fields_line(Path(args.warehouse).resolve())}")
    _print_arrivals(Path(args.warehouse).resolve(), days[-1])
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    _print_next_steps(Path(args.warehouse).resolve(), workdir)
    return 0


def _setting_problems(workdir: Path, warehouse: Path, days: list) -> list[str]:
    """Every problem with the variables the user set (the demo sets key, URL, logs and warehouse itself)."""
    from pipelines.preflight import day_problems, last_complete_day
    from pipelines.settings import Settings, SettingsError

    own = {"FPWH_LOG_GLOB": str(workdir / "logs" / "*"), "FPWH_WAREHOUSE_DIR": str(warehouse)}
    try:
        settings = Settings.from_env({**os.environ, **own}, require_key=False)
    except SettingsError as error:
        return error.problems
    return day_problems(days, settings, last_complete_day())


def _configure_environment(url: str, key: str, logs: Path, warehouse: Path, workdir: Path) -> None:
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    os.environ.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "FINGERPRINT_SECRET_API_KEY": key,
            "FINGERPRINT_API_URL": url,
            "FPWH_LOG_GLOB": str(logs / "*"),
            "FPWH_WAREHOUSE_DIR": str(warehouse),
        }
    )
    os.environ["FINGERPRINT_SEALED_KEYS"] = DEMO_SEALED_KEY
    os.environ["FINGERPRINT_WEBHOOK_SECRET"] = DEMO_WEBHOOK_SECRET
    # The simulator is local: the demo may go faster than a real key's 5 requests/s.
    os.environ.setdefault("FINGERPRINT_RATE_LIMIT_RPS", "100")
    os.environ.setdefault("FPWH_FETCH_CONCURRENCY", "16")


def _push_webhooks(population: Population, day: object) -> None:
    """Run the webhook receiver, have the simulator push a share of `day`'s events to it, stop it (it lands them)."""
    receiver = subprocess.Popen(
        [sys.executable, "-m", "pipelines.webhooks", "serve", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    assert receiver.stderr is not None
    url = receiver.stderr.readline().split("listening on ", 1)[1].split()[0]
    try:
        answers = send_day(population, url, day, 3, [DEMO_WEBHOOK_SECRET], share=PUSH_SHARE)  # type: ignore[arg-type]
    finally:
        receiver.terminate()
        receiver.wait(timeout=120)
    print(f"pushed {sum(answers.values())} signed webhooks for {day} to the receiver at {url}: answers {answers}")


def _materialize(partition_keys: list[str]) -> None:
    from dagster import DagsterInstance

    from pipelines.definitions import from_environment

    job = from_environment().resolve_job_def("daily_warehouse")
    instance = DagsterInstance.get()
    for key in partition_keys:
        t0 = time.monotonic()
        result = job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=True, run_config=QUIET_CONSOLE
        )
        status = "success" if result.success else "FAILED"
        print(f"materialized {key}: {status} in {time.monotonic() - t0:.1f} s")


def _print_queries(warehouse: Path) -> None:
    import duckdb

    from pipelines.sql import SQL_DIR, first_line, query

    with (
        pl.Config(tbl_rows=20, tbl_cols=12, fmt_str_lengths=40, tbl_width_chars=160),
        duckdb.connect(str(warehouse / "fingerprint.duckdb"), read_only=True) as con,
    ):
        for name in ("daily_overview", "vpn_timezone_mismatch_users"):
            print(f"\n-- sql/queries/{name}.sql: {first_line(SQL_DIR / 'queries' / f'{name}.sql')}")
            print(con.sql(query(name)).pl())


def unknown_fields_line(warehouse: Path) -> str:
    """One line on the unknown fields the run reported (its WARNING and WARN check), and why they are there."""
    import duckdb

    with duckdb.connect(str(warehouse / "fingerprint.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT json_path, sum(occurrences) FROM unknown_fields GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    seen = ", ".join(f"{path} x{count}" for path, count in rows) or "none this time"
    return (
        f"unknown fields ({seen}): the real API adds fields without notice, so the simulator puts one in about 1 % "
        "of its events to show that the warehouse counts them (table unknown_fields, WARN check "
        "no_unknown_api_fields) and loads the rest of the event, instead of failing or dropping them silently"
    )


def _print_arrivals(warehouse: Path, day: object) -> None:
    import duckdb

    with duckdb.connect(str(warehouse / "fingerprint.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT coalesce(f.method, 'no_event') AS arrived, count(DISTINCT a.request_id) AS logged_events "
            "FROM app_requests a LEFT JOIN fetches_latest f ON f.request_id = a.request_id AND f.day = a.day "
            "AND f.outcome = 'ok' WHERE a.day = ? GROUP BY ALL ORDER BY logged_events DESC",
            [day],
        ).fetchall()
    print(f"\nhow the logged events of {day} arrived (webhook and sealed cost no API call): {dict(rows)}")


def _print_next_steps(warehouse: Path, workdir: Path) -> None:
    print(
        f"""
Next:
  Open the dashboard:   {(warehouse / "dashboard" / "index.html").as_uri()}   (a static page, works offline)
  Query the warehouse:  .venv/bin/python -c "import duckdb; \\
print(duckdb.connect('{warehouse}/fingerprint.duckdb', read_only=True).sql('FROM suspicious_requests LIMIT 9'))"
  Open the Dagster UI:  .venv/bin/python -m simulator --port 8787 --seed 1 &   # the API stand-in
                        DAGSTER_HOME={workdir}/dagster_home FINGERPRINT_SECRET_API_KEY=sim-secret-key \\
                        FINGERPRINT_API_URL=http://127.0.0.1:8787 FPWH_LOG_GLOB='{workdir}/logs/*' \\
                        FPWH_WAREHOUSE_DIR={warehouse} .venv/bin/dagster dev -w workspace.yaml
                        then browse http://127.0.0.1:3000"""
    )


if __name__ == "__main__":
    raise SystemExit(main())
