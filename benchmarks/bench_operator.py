"""Benchmark of `fpwh run` as an operator runs it, against the simulator in its own process (not a test).

    ./fpwh bench benchmarks/bench_operator.py [--busy-per-day 1500] [--range-per-day 100] [--days 30] [--samples 3]

Every figure is the wall time of a real `python -m pipelines.cli run ...` process (import, definitions, persistent
instance, runs, summary), so it is what an operator waits for. Scenarios:
- import: `python -c "import pipelines.definitions"`, the floor any run pays (median of 3);
- busy day: one day of `--busy-per-day` logged IDs on a fresh warehouse;
- no-op day: the same day again: nothing changed, so it is reported up to date, not run. Target: at most ~3x the
  import time. Also `--force`d: nothing to fetch, but every table, the warehouse and the feeds are rebuilt;
- backfill: `run START..END` over `--days` days of logs on a fresh warehouse, one process;
- one day at a time: `--samples` days of the same logs, each its own process on another fresh warehouse, scaled
  to `--days` (the first sample indexes every log file, as the backfill's first day does). Target: the backfill
  well under `--days` x one day, since its import and set-up are paid once.
Also: log files parsed over the backfill (from the run summaries) against the `--days` x files a run without the
log-file index would have parsed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.simproc import simulator_process, stats  # noqa: E402
from simulator.applog import write_demo_logs  # noqa: E402
from simulator.population import Population  # noqa: E402

SEED, API_KEY, RETENTION_DAYS = 1, "sim-secret-key", 90


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one process; raises with its stderr when it fails."""
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    return took, proc.stdout


def fpwh_run(days: str, env: dict[str, str], *options: str) -> tuple[float, str]:
    return timed([sys.executable, "-m", "pipelines.cli", "run", *options, days], env)


def environment(url: str, logs: Path, work: Path, name: str) -> dict[str, str]:
    """A fresh warehouse and instance called `name` over `logs`, at the simulator's speed (no client limit)."""
    return {
        **os.environ,
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "FINGERPRINT_SECRET_API_KEY": API_KEY,
        "FINGERPRINT_API_URL": url,
        "FINGERPRINT_RATE_LIMIT_RPS": "0",
        "FINGERPRINT_RETENTION_DAYS": str(RETENTION_DAYS),
        "FPWH_LOG_GLOB": str(logs / "*"),
        "FPWH_WAREHOUSE_DIR": str(work / name / "warehouse"),
        "DAGSTER_HOME": str(work / name / "dagster_home"),
    }


def files_read(summary: str) -> int:
    return sum(int(n) for n in re.findall(r"in (\d+) of \d+ files", summary))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy-per-day", type=int, default=1500)
    parser.add_argument("--range-per-day", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(args.days, 0, -1)]
    population = Population(SEED)
    with (
        tempfile.TemporaryDirectory() as folder,
        simulator_process(SEED, "--retention-days", str(RETENTION_DAYS)) as url,
    ):
        work = Path(folder)
        env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1"}
        imports = [timed([sys.executable, "-c", "import pipelines.definitions"], env)[0] for _ in range(3)]
        import_s = statistics.median(imports)

        busy_logs = work / "busy_logs"
        write_demo_logs(population, busy_logs, start=days[-1], days=1, per_day=args.busy_per_day)
        busy_env = environment(url, busy_logs, work, "busy")
        calls = stats(url)["total"]
        busy_s, busy_out = fpwh_run(str(days[-1]), busy_env)
        busy_calls = stats(url)["total"] - calls
        noop_s, noop_out = fpwh_run(str(days[-1]), busy_env)
        forced_s, _ = fpwh_run(str(days[-1]), busy_env, "--force")

        range_logs = work / "range_logs"
        log_files = write_demo_logs(population, range_logs, start=days[0], days=args.days, per_day=args.range_per_day)
        backfill_s, backfill_out = fpwh_run(f"{days[0]}..{days[-1]}", environment(url, range_logs, work, "backfill"))
        single_env = environment(url, range_logs, work, "single")
        picks = [days[round(i * (len(days) - 1) / max(args.samples - 1, 1))] for i in range(args.samples)]
        singles = [fpwh_run(str(day), single_env)[0] for day in picks]
        one_day_s = statistics.mean(singles)

    busy_ids = re.search(r"(\d+) request IDs logged", busy_out)
    print(f"import pipelines.definitions   {import_s:6.2f} s  (median of {imports})")
    print(f"busy day ({busy_ids.group(1) if busy_ids else '?'} IDs)         {busy_s:6.2f} s  ({busy_calls} API calls)")
    skipped = "up to date" in noop_out
    print(
        f"no-op day (same day again)     {noop_s:6.2f} s  = {noop_s / import_s:.2f} x import"
        f"   (target <= ~3; up to date, not run: {skipped})"
    )
    print(
        f"same day again with --force    {forced_s:6.2f} s  = {forced_s / import_s:.2f} x import"
        "   (nothing to fetch; rebuilds every table)"
    )
    print(f"backfill of {args.days} days, one process {backfill_s:6.2f} s  = {backfill_s / args.days:.2f} s per day")
    print(f"one day per process            {one_day_s:6.2f} s  (mean of {', '.join(f'{s:.2f}' for s in singles)})")
    print(f"backfill / ({args.days} x one day)       {backfill_s / (args.days * one_day_s):.2f}")
    print(
        f"log files parsed by the backfill: {files_read(backfill_out)}; without the index: "
        f"{args.days} x {len(log_files)} = {args.days * len(log_files)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
