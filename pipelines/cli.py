"""`fpwh run DAY|START..END`, `fpwh check [--offline]`, `fpwh sql [QUERY]` and
`fpwh forget-visitor VISITOR_ID [...] [--api]`: the operator's and analyst's commands (`./fpwh` dispatches here).

Both validate every setting first and report every problem at once, one line each, exiting 2 without a
traceback. `run` materializes the days through the same Dagster definitions as the code location, each day its
own partition run (with its own checks and metadata) recorded in the persistent instance (`pipelines.instance`),
all in this one process: Dagster, polars and DuckDB are imported and the definitions built once for the whole
range, so a backfill's overhead is paid once, not per day. It closes with a summary per day.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pipelines import preflight
from pipelines.instance import dagster_home, home_problems
from pipelines.settings import SECRET_KEY_ENV, Settings, SettingsError, key_problems
from pipelines.storage.database import redact

if TYPE_CHECKING:  # Dagster's run machinery is imported only once the settings are valid
    from pipelines.run_summary import DaySummary

EXIT_OK, EXIT_FAILED, EXIT_MISCONFIGURED = 0, 1, 2
# The run's console shows what the assets say (fetch progress, warnings), not Dagster's DEBUG step events; the
# instance's event log, which the UI reads, keeps every event whatever the console's level.
INFO_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except preflight.Problems as problems:
        for line in problems.lines:
            print(f"fpwh: {line}", file=sys.stderr)
        return EXIT_MISCONFIGURED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpwh", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="materialize days (each its own partition run) and summarise them")
    run.add_argument("days", metavar="DAY|START..END", help="a UTC day (YYYY-MM-DD) or an inclusive range")
    run.add_argument("--force", action="store_true", help="run days that are up to date too")
    run.set_defaults(command=run_days)
    check = commands.add_parser("check", help="validate the configuration and reach the Server API with one call")
    check.add_argument("--offline", action="store_true", help="make no API call")
    check.set_defaults(command=check_setup)
    forget = commands.add_parser("forget-visitor", help="erase every trace of visitors (right to erasure)")
    forget.add_argument("visitor_ids", metavar="VISITOR_ID", nargs="+", help="a Fingerprint visitor ID")
    forget.add_argument("--api", action="store_true", help="also delete them upstream (DELETE /visitors/{id})")
    forget.set_defaults(command=forget_visitor)
    sql = commands.add_parser("sql", help="run a query on the current warehouse (none: an interactive shell)")
    sql.add_argument("query", nargs="?", help='e.g. "SELECT day, count(*) FROM events GROUP BY day"')
    sql.add_argument("--csv", action="store_true", help="print the result as CSV")
    sql.set_defaults(command=query_warehouse)
    return parser


def validated(days_arg: str | None = None) -> tuple[Settings, list[date]]:
    """The settings and the requested days, or every problem with them (and with the instance folder) at once."""
    problems: list[str] = []
    settings = None
    try:  # the key apart, so that a missing key does not hide the problems the other checks would find
        settings = Settings.from_env(require_key=False)
    except SettingsError as error:
        problems += error.problems
    problems += key_problems(os.environ.get(SECRET_KEY_ENV, ""))
    days: list[date] = []
    if days_arg is not None:
        days, bad_days = preflight.parse_days(days_arg)
        problems += bad_days
    if settings is not None:
        problems += preflight.day_problems(days, settings, preflight.last_complete_day())
        problems += preflight.log_problems(settings)
    problems += home_problems(dagster_home())
    if problems or settings is None:
        raise preflight.Problems(problems)
    return settings, days


def validated_settings() -> Settings:
    """The settings alone (a query needs no API key and no Dagster instance), or every problem with them."""
    try:
        return Settings.from_env(require_key=False)
    except SettingsError as error:
        raise preflight.Problems(error.problems) from None


def query_warehouse(args: argparse.Namespace) -> int:
    """`fpwh sql QUERY` prints the result over the newest publication; `fpwh sql` opens a shell or says how."""
    settings = validated_settings()
    from pipelines import query

    if args.query is None:
        return query.shell(settings)
    return query.run_query(settings, args.query, csv=args.csv)


def run_days(args: argparse.Namespace) -> int:
    """Materialize each day in turn against the persistent instance; stop at the first failed day.

    A day whose logs, settings and code are unchanged since its last clean run is reported up to date, not run
    (`pipelines.day_inputs`), unless `--force`: cost grows with work, not with runs.
    """
    settings, days = validated(args.days)
    from pipelines.day_inputs import day_fingerprint
    from pipelines.run_summary import DaySummary
    from pipelines.tables import open_warehouse

    store = open_warehouse(settings.warehouse)
    state = store.state
    published = store.publication.latest() > 0
    summaries: list[DaySummary] = []
    runner = _DayRunner(settings, args.days)
    for day in days:
        last = state.day_run(day)
        if not args.force and published and last and last.get("inputs") == day_fingerprint(day, settings, state):
            summaries.append(DaySummary.up_to_date(day.isoformat(), last))
            continue
        summary = runner.run(day)
        summaries.append(summary)
        inputs = day_fingerprint(day, settings, state) if summary.clean else None
        if inputs:
            state.save_day_run(day, {"inputs": inputs, "run_id": summary.run_id, "finished_at": _now()})
        if not summary.success:
            break
    runner.close()
    _print_summary(summaries, days, settings)
    return EXIT_OK if all(s.success for s in summaries) and len(summaries) == len(days) else EXIT_FAILED


class _DayRunner:
    """Runs days of the daily job in this process; the definitions and the instance are loaded on first use only."""

    def __init__(self, settings: Settings, days_arg: str) -> None:
        self.settings = settings
        self.tags = {"fpwh/command": "run", "fpwh/days": days_arg}
        self._stack = contextlib.ExitStack()
        self._job = None
        self._instance = None

    def run(self, day: date) -> DaySummary:
        from pipelines.run_summary import DaySummary

        if self._job is None:
            from pipelines.definitions import build_definitions
            from pipelines.defs.automation import DAILY_JOB
            from pipelines.instance import open_instance

            self._job = build_definitions(self.settings).resolve_job_def(DAILY_JOB)
            self._instance = self._stack.enter_context(open_instance(dagster_home()))
        started = time.perf_counter()
        result = self._job.execute_in_process(
            partition_key=day.isoformat(),
            instance=self._instance,
            raise_on_error=False,
            run_config=INFO_CONSOLE,
            tags=self.tags,
        )
        return DaySummary.of(day.isoformat(), result, time.perf_counter() - started)

    def close(self) -> None:
        self._stack.close()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_summary(summaries: list[DaySummary], days: list[date], settings: Settings) -> None:
    print("\nfpwh run: summary", flush=True)
    for summary in summaries:
        print("\n".join(summary.lines()))
    left = days[len(summaries) :]
    if left:
        print(
            f"not run: {left[0]}..{left[-1]} ({len(left)} days); fix the failure, then: fpwh run {left[0]}..{left[-1]}"
        )
    ok = sum(s.success for s in summaries)
    took = sum(s.seconds for s in summaries)
    fresh = sum(s.up_to_date_since is not None for s in summaries)
    print(f"{ok} of {len(days)} days ok in {took:.1f} s" + (f" ({fresh} up to date, not run)" if fresh else ""))
    location = settings.warehouse.location
    print(f"warehouse    {_warehouse_line(settings)}")
    print(f"dashboard    {location.uri('dashboard', 'index.html')}")
    print(f"run history  DAGSTER_HOME={dagster_home()} (dagster dev -w workspace.yaml shows it)")


def _warehouse_line(settings: Settings) -> str:
    """Where analysts find the warehouse: fingerprint.duckdb for a local one, the location and catalog otherwise."""
    location = settings.warehouse.location
    if location.is_remote:
        return f"{location.uri()} (catalog {redact(settings.warehouse.catalog)}; query it with ./fpwh sql)"
    return str(location.local_root / "fingerprint.duckdb")


def check_setup(args: argparse.Namespace) -> int:
    """Say what the configuration points at, then reach the API with one call (none with --offline)."""
    settings, _ = validated()
    from pipelines.logs import find_log_files
    from pipelines.tables import open_warehouse

    changed = ", ".join(sorted(settings.environment())) or "none"
    files = find_log_files(settings.logs.glob)
    store = open_warehouse(settings.warehouse)
    published = store.publication.latest()
    print(f"settings     ok; set in the environment (differing from the defaults): {changed}")
    print(f"logs         FPWH_LOG_GLOB={settings.logs.glob!r} matches {len(files)} files")
    status = f"{published} publications" if published else "not published yet"
    print(f"warehouse    {_warehouse_line(settings)} ({status})")
    print(f"partitions   {settings.schedule.first_day} to {preflight.last_complete_day()} (UTC days)")
    print(f"run history  DAGSTER_HOME={dagster_home()}")
    if args.offline:
        print("api          not called (--offline)")
        return EXIT_OK
    probe = preflight.probe_api(settings, os.environ[SECRET_KEY_ENV], store.state)
    print(f"api          {probe.message}")
    return EXIT_OK if probe.ok else EXIT_FAILED


def forget_visitor(args: argparse.Namespace) -> int:
    """Erase the visitors from the warehouse (`pipelines.erasure`), after the settings and IDs are validated."""
    bad = [f"visitor ID {v!r} is not valid: a visitor ID is a non-empty word" for v in args.visitor_ids if not _word(v)]
    try:
        settings, _ = validated()
    except preflight.Problems as problems:
        raise preflight.Problems([*problems.lines, *bad]) from None
    if bad:
        raise preflight.Problems(bad)
    from pipelines.erasure import forget_visitors
    from pipelines.resources import FingerprintApiResource
    from pipelines.tables import open_warehouse

    store = open_warehouse(settings.warehouse)
    if args.api:
        api = FingerprintApiResource(secret_api_key=os.environ[SECRET_KEY_ENV], settings=settings.api)
        with api.client(store.state) as client:
            report = forget_visitors(store, args.visitor_ids, client)
    else:
        report = forget_visitors(store, args.visitor_ids)
    summary = report.metadata()
    print(f"fpwh forget-visitor: erasure {summary['erasure_id']} ({summary['visitors']} visitors, audit fpwh_erasures)")
    for key in ("request_ids", "days_rewritten", "rows_removed", "api_called", "api_outcomes", "files_deleted"):
        print(f"  {key:<16} {summary[key]}")
    print(f"  {'seconds':<16} {summary['seconds']}")
    failed = args.api and report.api.get("failed", 0)
    return EXIT_FAILED if failed else EXIT_OK


def _word(value: str) -> bool:
    return bool(value) and len(value) <= 200 and not any(c.isspace() or c == "/" for c in value)


if __name__ == "__main__":
    raise SystemExit(main())
