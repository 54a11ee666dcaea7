"""Fault injection (issue 18) as properties: whatever goes wrong, after recovery every logged event is in the
warehouse exactly once, every count equals the truth, no temp file is left, the disk stays bounded, and the API
calls spent are accounted for.

The truth is a fault-free run of the same logs against the same simulated workspace (`reference`), itself held to
the simulator's ground truth (the events that exist). Every fault world uses the same two days of demo logs and
fetches by ID with the nightly refresh off, so API calls are exact: one per logged request ID, plus whatever the
fault costs. Each test records a row (fault class, events expected / landed / duplicated, extra API calls,
leftover bytes): printed, and appended to $FPWH_FAULTS_REPORT when set (`benchmarks/faults_report.py` prints the
table). Kill points come from a seeded RNG, so a run's faults are the same every time.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from pipelines.api.results import FetchResult
from pipelines.settings import ApiSettings, Settings
from pipelines.storage.atomic import is_temp
from pipelines.storage.bronze import Bronze
from pipelines.storage.files import FileStore
from pipelines.storage.location import Location
from simulator.applog import write_demo_logs
from simulator.server import SimulatorConfig, SimulatorHandle, start
from tests.conftest import TODAY, World

REPO = Path(__file__).resolve().parents[1]
SEED, PER_DAY = 5, 40
DAY_A, DAY_B = TODAY - timedelta(days=3), TODAY - timedelta(days=2)
EXACT_API = {"fetch_strategy": "by_id", "refresh_days": 0}  # one call per ID: the refresh is tested elsewhere
COUNTS = """
SELECT
    (SELECT count(*) FROM app_requests WHERE day = $day) AS requests,
    (SELECT count(DISTINCT request_id) FROM app_requests WHERE day = $day) AS request_ids,
    (SELECT count(*) FROM events WHERE day = $day) AS events,
    (SELECT count(*) - count(DISTINCT request_id) FROM events WHERE day = $day) AS duplicated_events,
    (SELECT count(*) - count(DISTINCT (source_file, line_number, request_id)) FROM app_requests WHERE day = $day)
        AS duplicated_occurrences,
    (SELECT count(*) FROM app_requests_enriched WHERE day = $day AND fetch_outcome IS NULL) AS without_outcome,
    (SELECT complete FROM day_completeness WHERE day = $day) AS complete
"""
CHILD_RUN = """
import sys
from dagster import DagsterInstance
from pipelines.definitions import from_environment
from pipelines.defs.automation import DAILY_JOB
job = from_environment().resolve_job_def(DAILY_JOB)
result = job.execute_in_process(partition_key=sys.argv[1], instance=DagsterInstance.ephemeral(), raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


@dataclass
class Row:
    """One fault class's line of the report."""

    fault: str
    expected: int
    landed: int
    duplicated: int
    extra_calls: int
    leftover_bytes: int


def _record(row: Row) -> None:
    print(f"FAULT {json.dumps(asdict(row))}")
    target = os.environ.get("FPWH_FAULTS_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(row)) + "\n")


def counts(world: World, day: date) -> dict[str, object]:
    with world.store.reader() as con:
        row = con.execute(COUNTS, {"day": day}).fetchone()
        names = [d[0] for d in con.description]
    return dict(zip(names, row, strict=True))


def temp_bytes(root: Path) -> int:
    """Bytes of writers' temp files anywhere below `root`."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and is_temp(p))


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def age_temps(root: Path, seconds: float = 2 * 3600) -> int:
    """Make every temp file below `root` look `seconds` old (a killed writer's, long after); return their bytes."""
    then = time.time() - seconds
    found = [p for p in root.rglob("*") if p.is_file() and is_temp(p)]
    for path in found:
        os.utime(path, (then, then))
    return sum(p.stat().st_size for p in found)


def make_world(sim: SimulatorHandle, root: Path) -> World:
    """Both days of demo logs in `root/logs`, a warehouse in `root/warehouse`, fetched by ID without a refresh."""
    write_demo_logs(sim.population, root / "logs", start=DAY_A, days=2, per_day=PER_DAY)
    settings = Settings(api=ApiSettings(api_url=sim.url, rate_limit_rps=200, concurrency=8, **EXACT_API))
    settings = settings.replace(
        logs={"glob": str(root / "logs" / "*")}, warehouse={"directory": str(root / "warehouse")}
    )
    return World(sim, root, settings, [DAY_A, DAY_B])


@dataclass
class Reference:
    """The truth: a fault-free run of both days, per day (counts) and overall (calls, bytes)."""

    per_day: dict[date, dict[str, object]]
    calls: dict[date, int]
    bytes: int


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    with start(SimulatorConfig(seed=SEED, port=0)) as sim:
        world = make_world(sim, tmp_path_factory.mktemp("reference"))
        per_day, calls = {}, {}
        for day in world.days:
            before = world.event_calls()
            assert world.run_day(day).success
            calls[day], per_day[day] = world.event_calls() - before, counts(world, day)
            logged = world.query("SELECT DISTINCT request_id FROM app_requests WHERE day = ?", [day])
            exists = sum(sim.population.exists(r[0]) for r in logged)
            assert per_day[day]["events"] == exists and calls[day] == per_day[day]["request_ids"]  # ground truth
            assert per_day[day]["complete"] and not per_day[day]["duplicated_events"]
        yield Reference(per_day, calls, disk_bytes(world.warehouse))


def assert_recovered(world: World, reference: Reference, days: list[date], fault: str, calls: int) -> Row:
    """Every property of a recovered warehouse, for `days`; the report row (extra calls beyond one per ID)."""
    landed = duplicated = 0
    for day in days:
        seen, truth = counts(world, day), reference.per_day[day]
        assert {k: seen[k] for k in ("requests", "request_ids", "events")} == {
            k: truth[k] for k in ("requests", "request_ids", "events")
        }, day
        assert seen["duplicated_events"] == seen["duplicated_occurrences"] == seen["without_outcome"] == 0
        assert seen["complete"] is True
        landed += int(seen["events"])
        duplicated += int(seen["duplicated_events"]) + int(seen["duplicated_occurrences"])
    leftover = temp_bytes(world.warehouse)
    assert leftover == 0, "a temp file older than the safe age survived the recovery run"
    assert disk_bytes(world.warehouse) <= 3 * reference.bytes  # at most a kept generation or two of replaced files
    expected = sum(int(reference.per_day[d]["events"]) for d in days)
    assert 0 <= calls - sum(reference.calls[d] for d in days) <= sum(reference.calls[d] for d in days)
    row = Row(fault, expected, landed, duplicated, calls - sum(reference.calls[d] for d in days), leftover)
    _record(row)
    return row


def fault_world(tmp_path: Path, **sim_config: object) -> tuple[World, Callable[[], None]]:
    sim = start(SimulatorConfig(seed=SEED, port=0, **sim_config))  # type: ignore[arg-type]
    return make_world(sim, tmp_path), sim.stop


def start_run(world: World, day: date) -> subprocess.Popen[bytes]:
    """The daily job of `day` in a process of its own (in-process executor), as a deployment starts it."""
    env = {
        **os.environ,
        **world.settings.environment(),
        "FINGERPRINT_SECRET_API_KEY": world.sim.api_key,
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    command = [sys.executable, "-c", CHILD_RUN, day.isoformat()]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


# Where a run may be killed: the first sign that it reached the point (a path pattern below the warehouse).
KILL_POINTS = {
    "fetching": lambda w, d: list((w.warehouse / "bronze" / "fetches" / f"day={d}").glob("part-*.parquet")),
    "staging": lambda w, d: list((w.warehouse / "lake").glob(f"*/*/data/day={d}/*.parquet")),
    "publishing": lambda w, d: list(w.warehouse.glob(".fingerprint.duckdb.*")),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_run_killed_at_a_random_point_recovers_every_event_once_and_leaves_no_debris(
    point: str, tmp_path: Path, reference: Reference
) -> None:
    rng = random.Random(f"{SEED}:{point}")  # the same kill every time
    delay = rng.uniform(0.0, 0.3)
    world, stop = fault_world(tmp_path, latency_ms=250)  # the fetch spans flushes (every 2 s): a kill loses one
    try:
        run = start_run(world, DAY_B)
        deadline = time.monotonic() + 240  # a loaded machine starts Python and Dagster slowly
        while not KILL_POINTS[point](world, DAY_B) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        assert run.poll() is None, f"the run ended before reaching {point}"
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        age_temps(world.warehouse)  # recovery happens later: the killed writer's files are past the safe age

        assert world.run_day(DAY_B).success
        assert_recovered(world, reference, [DAY_B], f"kill -9 while {point}", world.event_calls())
    finally:
        stop()


@pytest.mark.slow
def test_concurrent_runs_of_two_days_publish_both_whole(tmp_path: Path, reference: Reference) -> None:
    world, stop = fault_world(tmp_path)
    try:
        runs = [start_run(world, day) for day in (DAY_A, DAY_B)]
        assert [run.wait(timeout=600) for run in runs] == [0, 0]
        assert_recovered(world, reference, [DAY_A, DAY_B], "concurrent runs of two days", world.event_calls())
    finally:
        stop()


def test_a_truncated_lake_file_and_bronze_part_are_set_aside_and_rebuilt(tmp_path: Path, reference: Reference) -> None:
    world, stop = fault_world(tmp_path)
    try:
        for day in (DAY_A, DAY_B):
            assert world.run_day(day).success
        lake_file = next((world.warehouse / "lake").glob(f"*/events/data/day={DAY_A}/*.parquet"))
        bronze_part = next((world.warehouse / "bronze" / "fetches" / f"day={DAY_B}").glob("part-*.parquet"))
        lost_ids = pl.read_parquet(bronze_part)["request_id"].n_unique()
        for path in (lake_file, bronze_part):
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

        assert world.run_day(DAY_B).success  # sets both aside, fetches B's lost IDs again, rebuilds A from bronze

        corrupt = sorted(p.name for p in (world.warehouse / "corrupt").rglob("*.parquet"))
        assert corrupt == sorted([lake_file.name, bronze_part.name])
        assert world.store.marks.days() == {}
        row = assert_recovered(
            world, reference, [DAY_A, DAY_B], "truncated lake file + bronze part", world.event_calls()
        )
        assert row.extra_calls == lost_ids  # what the bronze part held is fetched again, nothing else
    finally:
        stop()


def test_aliased_and_hostile_logs_count_nothing_twice_and_spend_one_call_per_new_id(
    tmp_path: Path, reference: Reference
) -> None:
    world, stop = fault_world(tmp_path)
    try:
        logs = world.root / "logs"
        world.settings = world.settings.replace(logs={"glob": str(logs / "**" / "*")})
        assert world.run_day(DAY_A).success
        calls = world.event_calls()
        logged = {r[0] for r in world.query("SELECT DISTINCT request_id FROM app_requests")}
        fresh = next(rid for _, rid in world.sim.population.day_events(DAY_A) if rid not in logged)
        real = sorted(p for p in logs.iterdir() if DAY_A.isoformat() in p.name)[0]
        (logs / "app-current").symlink_to(real.name)  # an alias of today's file
        (logs / "sub").mkdir()
        (logs / "sub" / "up").symlink_to("..")  # a loop under **
        ids = " ".join(rid for _, rid in world.sim.population.day_events(DAY_A)[:3100])
        hostile = [
            f"{DAY_A}T12:00:00Z INFO dump {ids}".encode(),  # ID amplification: one line, thousands of IDs
            f"{DAY_A}T12:00:01Z INFO login caf\xe9 fp={fresh} user=u9".encode("latin-1"),  # one Latin-1 byte
        ]
        (logs / f"extra-{DAY_A}.log").write_bytes(b"\n".join(hostile) + b"\n")

        result = world.run_day(DAY_A)

        assert result.success
        meta = {
            k: v.value
            for m in result.asset_materializations_for_node("app_log_occurrences")
            for k, v in m.metadata.items()
        }
        assert len(meta["aliases_skipped"]) == 2 and meta["rejected_lines"].get("too_many_ids") == 1
        seen, truth = counts(world, DAY_A), reference.per_day[DAY_A]
        assert (seen["requests"], seen["request_ids"]) == (truth["requests"] + 1, truth["request_ids"] + 1)
        assert (
            seen["events"] == truth["events"] + 1 and seen["duplicated_events"] == seen["duplicated_occurrences"] == 0
        )
        spent = world.event_calls() - calls
        assert spent == 1  # the repaired line's new ID; the amplification line cost nothing
        _record(Row("aliased + hostile logs", int(truth["events"]) + 1, int(seen["events"]), 0, spent - 1, 0))
    finally:
        stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[Path, int], None]]:
    """`mount(folder, bytes)`: a tmpfs of that size at `folder` (remount to resize); skipped unless root may mount."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted: list[Path] = []

    def mount(folder: Path, size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        options = f"remount,size={size}" if folder in mounted else f"size={size}"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode:
            pytest.skip(f"mount -t tmpfs failed here: {done.stderr.strip()}")
        if folder not in mounted:
            mounted.append(folder)

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Fill the disk of `folder` to the last byte with a ballast file."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return ballast


def _messages(result) -> str:
    """Every error message (causes included) of the run's failed steps."""
    found = []
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        while error is not None:
            found.append(error.message)
            error = error.cause
    return "\n".join(found)


def test_a_full_disk_fails_the_run_in_one_line_naming_the_path_and_a_rerun_completes(
    tmp_path: Path, reference: Reference, small_disk
) -> None:
    world, stop = fault_world(tmp_path)
    try:
        small_disk(world.warehouse, 64 << 20)
        assert world.run_day(DAY_A).success
        ballast = _fill(world.warehouse)

        failed = world.run_day(DAY_B, raise_on_error=False)

        assert not failed.success
        line = next(m for m in _messages(failed).splitlines() if "disk full: could not write" in m)
        assert str(world.warehouse) in line and "Free space there" in line and "FPWH_SNAPSHOT_RETENTION_HOURS" in line
        assert world.sim.api_key not in _messages(failed)
        age_temps(world.warehouse)
        ballast.unlink()  # the operator frees space

        assert world.run_day(DAY_B).success
        assert_recovered(world, reference, [DAY_A, DAY_B], "disk full (ENOSPC on tmpfs)", world.event_calls())
    finally:
        stop()


def test_bronze_compaction_fits_a_disk_with_less_free_space_than_the_day(tmp_path: Path, small_disk) -> None:
    root = tmp_path / "disk"
    small_disk(root, 4 << 20)
    bronze = Bronze(FileStore(Location.parse(str(root))))
    for batch in range(20):
        bronze.append(DAY_A, [_ok(f"r{batch}-{i}", batch) for i in range(40)])
    day = sum(p.size for p in bronze.parts(DAY_A))
    ballast = root / "ballast"
    ballast.write_bytes(b"\0" * (shutil.disk_usage(root).free - day // 2))  # less free space than the day
    assert shutil.disk_usage(root).free < day

    merged = bronze.compact(DAY_A, group_bytes=day // 6)

    assert len(merged) >= 3 and bronze.all_fetches(DAY_A).height == 800 and temp_bytes(root) == 0
    _record(Row("bronze compaction, free space < the day", 800, bronze.all_fetches(DAY_A).height, 0, 0, 0))


def _ok(request_id: str, minute: int) -> FetchResult:
    """An `ok` record with an incompressible 2 KB body: the day's size is what it is."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return FetchResult(
        request_id=request_id,
        outcome="ok",
        http_status=200,
        error_code=None,
        error_message=None,
        attempts=1,
        latency_ms=1.0,
        fetched_at=at,
        body=os.urandom(2000),
    )


def test_two_first_runs_on_a_fresh_dagster_home_initialise_it_once(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    code = "import sys; from pathlib import Path; from pipelines.instance import prepare; prepare(Path(sys.argv[1]))"
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1"}
    runs = [subprocess.Popen([sys.executable, "-c", code, str(home)], cwd=REPO, env=env) for _ in range(2)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []  # the storages open and answer
    for db in home.rglob("*.db"):
        with sqlite3.connect(db) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" in tables:
                assert len(con.execute("SELECT * FROM alembic_version").fetchall()) == 1, db
