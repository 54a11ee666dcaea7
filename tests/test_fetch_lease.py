"""The per-day fetch lease (issue 18 item 3): two runs of one day never fetch an ID twice, on one machine or two."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.fetch.lease import day_fetch_lease, holder_is_dead, lease_name
from pipelines.settings import WarehouseSettings
from pipelines.tables import open_warehouse

REPO = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 24)
FETCH_SCRIPT = (
    "import sys; from datetime import date; from pathlib import Path\n"
    "from pipelines.api.client import FingerprintClient\n"
    "from pipelines.api.ratelimit import Unlimited\n"
    "from pipelines.api.secret import Secret\n"
    "from pipelines.fetch import DayFetch\n"
    "from pipelines.settings import ApiSettings, WarehouseSettings\n"
    "from pipelines.tables import open_warehouse\n"
    "url, key, day, ids, directory, catalog = sys.argv[1:]\n"
    "settings = ApiSettings(api_url=url, rate_limit_rps=0, fetch_strategy='by_id', concurrency=2)\n"
    "store = open_warehouse(WarehouseSettings(directory=directory, catalog_url=catalog or None))\n"
    "with FingerprintClient(settings, Secret(key), Unlimited()) as client:\n"
    "    report = DayFetch(date.fromisoformat(day), client, store.bronze, store.state, print)"
    ".run(Path(ids).read_text().split())\n"
    "print('calls', report.api_calls)\n"
)


WAITING = "being fetched by another run"


def started_while_the_day_is_held(store, day: date, commands: list[list[str]], env: dict, stream: str) -> list:
    """Start `commands` while a live run (this test) holds `day`'s fetch lease, wait until each says it waits for
    it, then release it: the runs then race for the day, whatever the machine's load made their start-up cost.
    Returns the processes and what each printed on `stream` up to its wait line."""
    holder = f"{socket.gethostname()}:{os.getpid()}:test"
    assert store.state.take_lease(lease_name(day), holder, 600.0) is None
    procs = [
        subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    heads = []
    for proc in procs:
        lines = []
        while not lines or WAITING not in lines[-1]:
            line = getattr(proc, stream).readline()
            assert line, f"ended before waiting for the held day: {''.join(lines)[-2000:]}"
            lines.append(line)
        heads.append("".join(lines))
    store.state.release_lease(lease_name(day), holder)
    return [(proc, head) for proc, head in zip(procs, heads, strict=True)]


def fetch_twice_at_once(sim, tmp_path: Path, directory: str, catalog: str = "") -> tuple[list[str], list[str]]:
    """Two processes fetch the same day's IDs at once; returns the IDs and both processes' output."""
    ids = [rid for _, rid in sim.population.day_events(DAY)[:24]]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids))
    args = [
        sys.executable,
        "-c",
        FETCH_SCRIPT,
        sim.url,
        sim.api_key,
        DAY.isoformat(),
        str(ids_file),
        directory,
        catalog,
    ]
    store = open_warehouse(WarehouseSettings(directory=directory, catalog_url=catalog or None))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    outputs = []
    for proc, head in started_while_the_day_is_held(store, DAY, [args, args], env, "stdout"):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(head + out)
    return ids, outputs


def assert_fetched_once(sim, store, ids: list[str], outputs: list[str]) -> None:
    assert sim.stats()["by_kind"]["event"] == len(ids)  # not 2x: the second run fetched nothing twice
    calls = sorted(int(out.rsplit("calls ", 1)[1]) for out in outputs)
    assert sum(calls) == len(ids)
    assert all(WAITING in out for out in outputs)  # both waited for the day while the test held it
    fetches = store.bronze.all_fetches(DAY)
    assert set(fetches["request_id"]) == set(ids)
    assert fetches.filter(pl.col("outcome") == "ok")["request_id"].is_duplicated().sum() == 0
    assert store.state.take_lease(lease_name(DAY), "checker", 1.0) is None  # released by both


def test_two_runs_of_one_day_at_once_fetch_each_id_once(simulator, tmp_path):
    sim = simulator(latency_ms=250, retention_days=None)
    directory = str(tmp_path / "warehouse")
    ids, outputs = fetch_twice_at_once(sim, tmp_path, directory)
    assert_fetched_once(sim, open_warehouse(WarehouseSettings(directory=directory)), ids, outputs)


def test_two_runs_of_one_day_at_once_fetch_each_id_once_in_remote_mode(simulator, tmp_path, s3, postgres_url):
    sim = simulator(latency_ms=250, retention_days=None)
    ids, outputs = fetch_twice_at_once(sim, tmp_path, s3.url(), postgres_url)
    store = open_warehouse(WarehouseSettings(directory=s3.url(), catalog_url=postgres_url))
    assert_fetched_once(sim, store, ids, outputs)


def test_a_lease_left_by_a_killed_process_on_this_host_is_taken_at_once(store):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = f"{socket.gethostname()}:{dead.stdout.strip()}:gone"
    assert store.state.take_lease(lease_name(DAY), holder, 3600.0) is None  # an hour left, but its process is gone
    lines: list[str] = []
    with day_fetch_lease(store.state, DAY, lines.append) as waited:
        assert store.state.take_lease(lease_name(DAY), holder, 3600.0) not in (None, holder)
    assert lines == [] and waited < 3600


def test_a_live_holder_elsewhere_is_waited_for_until_its_lease_expires(store):
    assert store.state.take_lease(lease_name(DAY), "another-host:1:x", 1.0) is None
    lines: list[str] = []
    with day_fetch_lease(store.state, DAY, lines.append, ttl_s=5.0) as waited:
        assert waited > 0
    assert len(lines) == 1 and "another-host" in lines[0] and "waiting" in lines[0]


@pytest.mark.parametrize(
    "holder", ["no-colons", f"{socket.gethostname()}:notapid:x", f"{socket.gethostname()}:{os.getpid()}:x"]
)
def test_a_holder_that_cannot_be_checked_is_never_taken_for_dead(holder):
    assert not holder_is_dead(holder)


@pytest.mark.slow
def test_two_fpwh_runs_of_the_same_day_at_once_spend_the_budget_once(world, simulator, tmp_path):
    slow = simulator(latency_ms=150)
    settings = world.settings.replace(
        api={"api_url": slow.url, "concurrency": 2, "fetch_strategy": "by_id", "refresh_days": 0}
    )
    env = {
        **os.environ,
        **settings.environment(),
        "FINGERPRINT_SECRET_API_KEY": slow.api_key,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    day = str(world.days[1])
    command = [sys.executable, "-m", "pipelines.cli", "run", "--force", day]
    store = open_warehouse(settings.warehouse)
    runs = started_while_the_day_is_held(store, world.days[1], [command, command], env, "stderr")
    outcomes = [(head + proc.communicate(timeout=600)[1], proc.returncode)[::-1] for proc, head in runs]
    assert [code for code, _ in outcomes] == [0, 0], [err[-2000:] for _, err in outcomes]
    fetched = store.bronze.all_fetches(world.days[1]).filter(pl.col("method") == "by_id")
    assert slow.stats()["by_kind"]["event"] == fetched["request_id"].n_unique()  # each ID once, not twice
    with store.reader() as con:
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT request_id) FROM events").fetchone()
    assert rows == distinct > 0
