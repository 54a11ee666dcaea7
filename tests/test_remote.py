"""Remote mode against the real things (issue 13 §4): an `s3://` warehouse in an S3-compatible server (moto) and a
PostgreSQL catalog, the simulator over HTTP, `fpwh run` as real processes with their own working folder, HOME and
TMPDIR, sharing nothing but the bucket and the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.settings import WarehouseSettings
from pipelines.storage.lake import DAY_COLUMN
from pipelines.storage.location import Location
from pipelines.storage.warehouse import Warehouse
from tests.conftest import TODAY, World

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Machine:
    """What a worker on its own machine has: an empty working folder, HOME and TMPDIR, and its environment."""

    cwd: Path
    home: Path
    tmp: Path
    env: dict[str, str]

    def debris(self) -> list[str]:
        """Every file or folder that appeared in the working folder or HOME (both start and must stay empty)."""
        return sorted(str(p) for folder in (self.cwd, self.home) for p in folder.rglob("*"))

    def fpwh(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = self.fpwh(*args)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def machine(root: Path, name: str, world: World, s3, postgres_url: str, **settings: str) -> Machine:
    """A worker's environment: the world's settings with the warehouse in the bucket and the catalog in PostgreSQL.

    Its Dagster instance folder (DAGSTER_HOME, run history; a deployment's is PostgreSQL) is in its temp folder.
    """
    cwd, home, tmp = (root / name / part for part in ("cwd", "home", "tmp"))
    for folder in (cwd, home, tmp):
        folder.mkdir(parents=True)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),  # the code location is installed on a real machine; here it is the checkout
        "PYTHONDONTWRITEBYTECODE": "1",  # the checkout is not this machine's disk
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        **world.settings.environment(),
        **s3.env,
        "FPWH_WAREHOUSE_DIR": s3.url(),
        "FPWH_CATALOG_URL": postgres_url,
        "FINGERPRINT_SECRET_API_KEY": world.sim.api_key,
        **settings,
    }
    return Machine(cwd, home, tmp, env)


def remote_store(s3, postgres_url: str) -> Warehouse:
    from pipelines.tables import open_warehouse

    return open_warehouse(WarehouseSettings(directory=s3.url(), catalog_url=postgres_url))


def day_figures(store: Warehouse, day: date) -> dict[str, int]:
    """`events` rows and distinct IDs of `day`, and its logged IDs and their `ok` outcomes (the truth)."""
    with store.reader() as con:
        events, distinct = con.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM events WHERE day = ?", [day]
        ).fetchone()
        logged = con.execute("SELECT count(DISTINCT request_id) FROM app_requests WHERE day = ?", [day]).fetchone()[0]
        ok = con.execute("SELECT count(*) FROM fetches_latest WHERE day = ? AND outcome = 'ok'", [day]).fetchone()[0]
    return {"events": events, "distinct": distinct, "logged": logged, "ok": ok}


def test_a_day_runs_into_the_bucket_once_reruns_free_and_leaves_no_file_on_the_machine(
    world, s3, postgres_url, tmp_path
):
    worker = machine(tmp_path, "worker", world, s3, postgres_url)
    day = world.days[0]
    first = worker.run("run", str(day))
    assert first.returncode == 0, first.stderr[-3000:]
    store = remote_store(s3, postgres_url)
    figures = day_figures(store, day)
    assert figures["events"] == figures["distinct"] == figures["ok"] > 0  # every event exactly once
    assert any(key.endswith(".parquet") for key in s3.keys("warehouse/lake/"))
    calls = world.event_calls()
    again = worker.run("run", "--force", str(day))
    assert again.returncode == 0, again.stderr[-3000:]
    assert world.event_calls() == calls  # a re-run makes no API call
    assert day_figures(store, day) == figures
    query = worker.run("sql", "--csv", f"SELECT count(*) AS n FROM events WHERE day = '{day}'")
    assert query.returncode == 0 and query.stdout == f"n\n{figures['events']}\n", query.stderr[-2000:]
    assert worker.debris() == []  # nothing outside the bucket, the catalog and the temp folder


@pytest.mark.slow
def test_a_run_killed_mid_fetch_resumes_without_refetching(world, simulator, s3, postgres_url, tmp_path):
    slow = simulator(latency_ms=300)
    settings = {"FINGERPRINT_API_URL": slow.url, "FPWH_FETCH_CONCURRENCY": "2", "FPWH_FETCH_STRATEGY": "by_id"}
    settings["FPWH_REFRESH_DAYS"] = "0"  # calls are the day's fetches only
    worker = machine(tmp_path, "worker", world, s3, postgres_url, **settings)
    worker.env["FINGERPRINT_SECRET_API_KEY"] = slow.api_key
    day = world.days[1]
    store = remote_store(s3, postgres_url)

    def fetched_by_id() -> set[str]:
        fetches = store.bronze.all_fetches(day)
        return set(fetches.filter(pl.col("method") == "by_id")["request_id"])

    proc = worker.fpwh("run", str(day))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not fetched_by_id():
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash: no clean-up, the lease not released
    proc.wait()
    calls_at_kill = slow.stats()["by_kind"]["event"]
    landed_at_kill = len(fetched_by_id())
    resumed = worker.run("run", str(day))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    figures = day_figures(store, day)
    assert figures["events"] == figures["distinct"] == figures["ok"] > 0
    fetches = store.bronze.all_fetches(day)
    needing_a_call = fetches.filter(pl.col("method") == "by_id")["request_id"].n_unique()  # not sealed/pushed
    total = slow.stats()["by_kind"]["event"]
    assert 0 < landed_at_kill < needing_a_call  # killed mid-fetch, after a batch landed
    # Every ID is fetched once, plus only those whose answer was in flight (not yet landed) at the kill.
    assert total == needing_a_call + (calls_at_kill - landed_at_kill)
    print(f"\nkill -9 mid-fetch: {needing_a_call} IDs to fetch, {landed_at_kill} landed before the kill, "
          f"{total} calls in all ({calls_at_kill - landed_at_kill} in flight at the kill)")  # fmt: skip


JITTER_S = 1.0  # between a token's grant at a worker and its request's arrival at the simulator


def max_in_window(arrivals: list[float], window_s: float) -> int:
    """The most requests that arrived within any `window_s` seconds."""
    times, best, start = sorted(arrivals), 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.slow
def test_two_machines_backfill_four_days_within_the_keys_rate(simulator, make_world, s3, postgres_url, tmp_path):
    sim = simulator()
    days = [TODAY - timedelta(days=n) for n in (4, 3, 2, 1)]
    world = make_world(sim, tmp_path / "shared", days, per_day=40)
    limits = {"FPWH_FETCH_STRATEGY": "by_id", "FINGERPRINT_RATE_LIMIT_RPS": "5", "FPWH_FETCH_CONCURRENCY": "4"}
    limits["FPWH_REFRESH_DAYS"] = "0"  # the refresh re-reads earlier days' events by design: here calls are fetches
    workers = [machine(tmp_path, name, world, s3, postgres_url, **limits) for name in ("a", "b")]
    procs = [workers[0].fpwh("run", f"{days[0]}..{days[1]}"), workers[1].fpwh("run", f"{days[2]}..{days[3]}")]
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, (out[-2000:], err[-3000:])
    store = remote_store(s3, postgres_url)
    needing_a_call = 0
    for day in days:
        figures = day_figures(store, day)
        assert figures["events"] == figures["distinct"] == figures["ok"] > 0
        fetches = store.bronze.all_fetches(day)
        needing_a_call += fetches.filter(pl.col("method") == "by_id")["request_id"].n_unique()  # not sealed
    assert sim.stats()["by_kind"]["event"] == needing_a_call  # every ID fetched once, whichever worker ran it
    arrivals = sim.arrivals()
    burst = 3 * 5  # FINGERPRINT_RATE_LIMIT_BURST's default, 3 x rps
    windows = (1.0, 5.0, 10.0, 20.0)
    most = {window: max_in_window(arrivals, window) for window in windows}
    span = max(arrivals) - min(arrivals)
    sustained = max((most[w] - burst) / w for w in (10.0, 20.0))
    print(f"\ntwo workers, 4 days by ID: {len(arrivals)} calls in {span:.1f} s = {len(arrivals) / span:.2f}/s overall; "
          f"most in a window: {most}; beyond the burst of {burst}: {sustained:.2f}/s over 10-20 s windows")  # fmt: skip
    for window in windows:
        # The bucket grants at most burst + 5/s x window; arrivals at the simulator may bunch up by the time a
        # loaded machine takes to send a granted request (JITTER_S), so the window is widened by that much.
        assert most[window] <= burst + 5 * (window + JITTER_S), (window, most)
    assert [w.debris() for w in workers] == [[], []]


# --- an analyst's query across republishes of the same day -------------------------------------------------
MARKED = {"marks_a": pl.Schema({"marker": pl.Int64(), DAY_COLUMN: pl.Date()}),
          "marks_b": pl.Schema({"marker": pl.Int64(), DAY_COLUMN: pl.Date()})}  # fmt: skip
DAY = date(2026, 11, 24)


def republish(store: Warehouse, marker: int, rows: int = 50) -> None:
    """Publish DAY again with `marker` in every row of both tables (one publication)."""
    frame = pl.DataFrame({"marker": [marker] * rows})
    for table in MARKED:
        store.stage(table, DAY, frame)
    store.publish_day(DAY)


def test_a_query_looping_across_republishes_never_fails_or_mixes_two_publications(s3, postgres_url):
    store = Warehouse(Location.parse(s3.url("marked")), postgres_url, MARKED)
    republish(store, 0)
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def analyst() -> None:
        query = (
            "SELECT (SELECT min(marker) FROM marks_a WHERE day = ?), (SELECT max(marker) FROM marks_a WHERE day = ?), "
            "(SELECT min(marker) FROM marks_b WHERE day = ?), (SELECT max(marker) FROM marks_b WHERE day = ?)"
        )
        while not done.is_set():
            try:
                with store.reader() as con:  # what `./fpwh sql` opens: the newest publication
                    lmin, lmax, rmin, rmax = con.execute(query, [DAY] * 4).fetchone()
                seen.append((lmin, rmin))
                assert lmin == lmax == rmin == rmax, (lmin, lmax, rmin, rmax)
            except BaseException as error:
                errors.append(error)
                return

    thread = threading.Thread(target=analyst)
    thread.start()
    for marker in range(1, 7):
        republish(store, marker)
    time.sleep(0.5)
    done.set()
    thread.join(timeout=120)
    assert errors == []
    assert len(seen) >= 3 and len({left for left, _ in seen}) >= 2  # it ran across republishes
    assert all(left == right for left, right in seen)


def test_machines_starting_at_once_on_a_fresh_catalog_all_open_it(postgres_url, tmp_path):
    script = (
        "import sys\n"
        "from pipelines.api.ratelimit import PostgresTokenBucket\n"
        "from pipelines.settings import WarehouseSettings\n"
        "from pipelines.tables import open_warehouse\n"
        "store = open_warehouse(WarehouseSettings(directory=sys.argv[1], catalog_url=sys.argv[2]))\n"
        "PostgresTokenBucket(store.state.engine, 'key', rate=5.0)\n"
        "print(len(store.lake.table_locations()))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"wh{n}"), postgres_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err[-1500:] for _, err in results]
