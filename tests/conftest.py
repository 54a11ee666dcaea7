"""Shared fixtures: simulators on ephemeral ports, API clients and settings aimed at them, and a small world of
two logged days that runs the real daily job; the official API examples when they are checked out."""

from __future__ import annotations

import os

os.environ["DAGSTER_DISABLE_TELEMETRY"] = "1"  # before anything imports dagster

import copy
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import pytest
import requests
import uvicorn
from dagster import DagsterInstance, ExecuteInProcessResult
from hypothesis import strategies as st
from requests import Response

from pipelines.api.client import FingerprintClient, YoungEventRetry
from pipelines.api.ratelimit import limiter_for
from pipelines.api.secret import Secret
from pipelines.definitions import build_definitions
from pipelines.defs.automation import DAILY_JOB
from pipelines.settings import WEBHOOK_SECRET_ENV, ApiSettings, Settings, WarehouseSettings
from pipelines.storage.bronze import Bronze
from pipelines.storage.warehouse import Warehouse
from pipelines.tables import open_warehouse
from pipelines.webhooks.inbox import INBOX_LOCK
from pipelines.webhooks.receiver import ReceiverConfig, create_app
from pipelines.webhooks.signature import WebhookSecrets
from simulator.applog import Logged, logged_requests, write_demo_logs
from simulator.population import day_start_ms
from simulator.server import SimulatorConfig, SimulatorHandle, start

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".tools"
SHARED_EXAMPLES = REPO.parent / "shared" / "fingerprint-api" / "examples"
FAST_YOUNG_RETRY = YoungEventRetry(retries=2, min_delay_s=0.05, max_delay_s=0.1)
TODAY = datetime.now(UTC).date()

StartSimulator = Callable[..., SimulatorHandle]


@pytest.fixture(scope="session", autouse=True)
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAGSTER_HOME for the session and every process it starts: never the repository's `.dagster_home` (an
    operator's run history), and never a `.tmp_dagster_home_*` that Dagster's CLIs create in the working folder."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@pytest.fixture
def simulator() -> Iterator[StartSimulator]:
    """A factory `start(**config_overrides) -> SimulatorHandle`; everything it started is stopped afterwards.

    Overrides are `SimulatorConfig` fields (`seed`, `rps_limit`, `fail_5xx_rate`, ...); the port is ephemeral
    unless given.
    """
    started: list[SimulatorHandle] = []

    def start_simulator(**overrides: object) -> SimulatorHandle:
        handle = start(SimulatorConfig(**{"port": 0, **overrides}))  # type: ignore[arg-type]
        started.append(handle)
        return handle

    yield start_simulator
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session")
def shared_simulator() -> Iterator[SimulatorHandle]:
    """One default simulator (seed 1, no faults, real clock) for tests that only read. Do not reset its stats."""
    with start(SimulatorConfig(seed=1, port=0)) as handle:
        yield handle


@pytest.fixture(scope="session")
def shared_examples() -> Path:
    """`<repo>/../shared/fingerprint-api/examples`; skips the test when that checkout is absent."""
    if not SHARED_EXAMPLES.is_dir():
        pytest.skip("../shared not present")
    return SHARED_EXAMPLES


def _api_settings_for(sim: SimulatorHandle, **overrides: Any) -> ApiSettings:
    """Fast-retrying API settings aimed at `sim`, the client-side rate limit off unless asked."""
    values = {
        "api_url": sim.url,
        "rate_limit_rps": 0,
        "concurrency": 4,
        "timeout_s": 2.0,
        "max_attempts": 4,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
    }
    return ApiSettings(**{**values, **overrides})


@pytest.fixture
def api_settings() -> Callable[..., ApiSettings]:
    """A factory `api_settings(sim, **overrides) -> ApiSettings`: fast retries, no client-side rate limit."""
    return _api_settings_for


@pytest.fixture
def api_client(tmp_path: Path) -> Callable[..., FingerprintClient]:
    """A factory `api_client(sim, key=None, young=FAST_YOUNG_RETRY, **api_overrides) -> FingerprintClient`."""

    def make(
        sim: SimulatorHandle, key: str | None = None, young: YoungEventRetry = FAST_YOUNG_RETRY, **overrides: Any
    ) -> FingerprintClient:
        settings = _api_settings_for(sim, **overrides)
        secret = Secret(key if key is not None else sim.api_key)
        return FingerprintClient(
            settings, secret, limiter_for(settings, secret, tmp_path / "ratelimit"), young_event_retry=young
        )

    return make


def _settings_for(sim: SimulatorHandle, root: Path, **groups: dict[str, Any]) -> Settings:
    """Settings a deployment would set for a warehouse in `root/warehouse` fed by logs in `root/logs`."""
    base = Settings(
        api=ApiSettings(api_url=sim.url, rate_limit_rps=200, concurrency=8),
    ).replace(logs={"glob": str(root / "logs" / "*")}, warehouse={"directory": str(root / "warehouse")})
    return base.replace(**groups) if groups else base


@dataclass
class World:
    """A simulator, logged days and the settings of a warehouse over them; runs the real daily job."""

    sim: SimulatorHandle
    root: Path
    settings: Settings
    days: list[date]
    sealed_keys: str = ""  # FINGERPRINT_SEALED_KEYS of the deployment (base64, comma-separated)
    per_day: int = 0  # the demo logs' `per_day`
    logs_now_ms: int = 0  # the clock the demo logs were written at (lines after it are left out)

    def logged(self) -> list[Logged]:
        """Every line of the demo logs that names a well-formed request ID, as the simulator wrote it."""
        return logged_requests(self.sim.population, self.days[0], len(self.days), self.per_day, self.logs_now_ms)

    @property
    def warehouse(self) -> Path:
        return self.settings.warehouse.location.local_root

    @property
    def store(self) -> Warehouse:
        return open_warehouse(self.settings.warehouse)

    def run_day(
        self, day: date, instance: DagsterInstance | None = None, raise_on_error: bool = True, **groups: Any
    ) -> ExecuteInProcessResult:
        settings = self.settings.replace(**groups) if groups else self.settings
        defs = build_definitions(settings, secret_api_key=self.sim.api_key, sealed_keys=self.sealed_keys)
        job = defs.resolve_job_def(DAILY_JOB)
        return job.execute_in_process(
            partition_key=day.isoformat(),
            instance=instance or DagsterInstance.ephemeral(),
            raise_on_error=raise_on_error,
        )

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse / "fingerprint.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def sql(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with duckdb.connect(str(self.warehouse / "fingerprint.duckdb"), read_only=True) as con:
            return con.sql(sql, params=params or []).pl()

    def event_calls(self) -> int:
        return self.sim.stats()["by_kind"].get("event", 0)


def _update_event(sim: SimulatorHandle, request_id: str, body: Any, version: int = 3) -> Response:
    if version == 3:
        headers = {"Auth-API-Key": sim.api_key}
        return requests.put(f"{sim.url}/events/{request_id}", json=body, headers=headers, timeout=5)
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    return requests.patch(f"{sim.url}/v4/events/{request_id}", json=body, headers=headers, timeout=5)


@pytest.fixture
def update_event() -> Callable[..., Response]:
    """`update_event(sim, request_id, body, version=3)`: what a customer's backend does, over HTTP: `PUT
    /events/{id}` (v3) or `PATCH /v4/events/{id}` (v4) with the JSON `body`; returns the response."""
    return _update_event


def _delete_upstream(sim: SimulatorHandle, request_ids: list[str]) -> None:
    answer = requests.post(f"{sim.url}/_simulator/delete-events", json={"request_ids": request_ids}, timeout=5)
    answer.raise_for_status()


@pytest.fixture
def delete_upstream() -> Callable[[SimulatorHandle, list[str]], None]:
    """`delete_upstream(sim, request_ids)`: delete events in the simulated workspace, as a visitor deletion does
    (they answer 404 and leave the search from then on)."""
    return _delete_upstream


def _make_world(sim: SimulatorHandle, root: Path, days: list[date], per_day: int, **groups: Any) -> World:
    """The logs are written as of the midnight after the last day, whatever the time of day the test runs."""
    now_ms = day_start_ms(days[-1] + timedelta(days=1))
    write_demo_logs(sim.population, root / "logs", start=days[0], days=len(days), per_day=per_day, now_ms=now_ms)
    return World(sim, root, _settings_for(sim, root, **groups), days, per_day=per_day, logs_now_ms=now_ms)


build_world = _make_world  # for a test module's own module-scoped world (the `make_world` fixture is per test)


@pytest.fixture
def store(tmp_path: Path) -> Warehouse:
    """A fresh local warehouse in `tmp_path/warehouse` with every registered table."""
    return open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse")))


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    """A factory `settings_for(sim, root, **groups) -> Settings` for a warehouse in `root/warehouse`."""
    return _settings_for


@pytest.fixture
def make_world() -> Callable[..., World]:
    """A factory `make_world(sim, root, days, per_day, **groups) -> World` that writes the demo logs first."""
    return _make_world


@pytest.fixture
def world(tmp_path: Path, simulator: StartSimulator) -> World:
    """A simulator and two days of demo logs (the day before yesterday and yesterday), 40 requests a day."""
    days = [TODAY - timedelta(days=2), TODAY - timedelta(days=1)]
    return _make_world(simulator(), tmp_path, days, per_day=40)


def _request_id_on(day: date, n: int) -> str:
    """A documented-form request ID whose epoch-ms prefix falls on `day` (01:00 UTC plus n ms)."""
    ms = int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000) + 3_600_000 + n
    return f"{ms}.AbC{n % 1000:03d}"


def _write_day_log(folder: Path, day: date, ids: int = 3) -> Path:
    """`folder/app-DAY.log`: `ids` JSON lines of that day, one file per day as rotation leaves them."""
    lines = [orjson.dumps({"requestId": _request_id_on(day, n), "user": f"u{n}"}) for n in range(ids)]
    path = folder / f"app-{day.isoformat()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


@pytest.fixture(scope="session")
def request_id_on() -> Callable[[date, int], str]:
    """`request_id_on(day, n)`: a valid request ID logged on `day`, distinct per n."""
    return _request_id_on


@pytest.fixture(scope="session")
def write_day_log() -> Callable[..., Path]:
    """`write_day_log(folder, day, ids=3) -> Path`: a day's JSON-lines log file, as rotation leaves them."""
    return _write_day_log


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)


def _arbitrary_value_in(event: dict, data: st.DataObject) -> dict:
    """A copy of `event` with arbitrary JSON at a random existing path."""
    event = copy.deepcopy(event)
    node = event
    while isinstance(node, dict) and node:
        k = data.draw(st.sampled_from(sorted(node)))
        if not isinstance(node[k], dict) or data.draw(st.booleans()):
            node[k] = data.draw(JSON_VALUES)
            break
        node = node[k]
    return event


@pytest.fixture(scope="session")
def arbitrary_value_in() -> Callable[[dict, st.DataObject], dict]:
    """`arbitrary_value_in(event, data)`: a copy of a parsed event with arbitrary JSON at a random existing path,
    for the property tests of the flatteners (v3 and v4)."""
    return _arbitrary_value_in


def _provisioned(path: Path, what: str) -> Path:
    """A tool `./fpwh test` provisions: skipped with the reason when absent, but a failure under CI."""
    if path.exists():
        return path
    message = f"{what} is not installed at {path}: `./fpwh test` provisions it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def old_duckdb() -> Callable[[str], str]:
    """`old_duckdb("1.1")`: the Python of a virtualenv holding that DuckDB release line (from `./fpwh test`)."""
    return lambda line: str(_provisioned(TOOLS / f"duckdb-{line}" / "bin" / "python", f"DuckDB {line}"))


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's /usr/bin/chromium (from `./fpwh test`), for the dashboard's browser test."""
    return _provisioned(Path("/usr/bin/chromium"), "Chromium")


@dataclass(frozen=True)
class Planted:
    """Two days through the real daily job: user `u-sharer` on 12 devices, then a bot burst (`simulator.population`)."""

    world: World
    planted: dict[date, dict[str, str]]  # day -> request ID -> planted pattern

    @property
    def sim(self) -> SimulatorHandle:
        return self.world.sim

    @property
    def warehouse(self) -> Path:
        return self.world.warehouse

    @property
    def sharer_day(self) -> date:
        return self.world.days[0]

    @property
    def burst_day(self) -> date:
        return self.world.days[1]

    def sql(self, query: str, params: list | None = None) -> pl.DataFrame:
        return self.world.sql(query, params)

    def ids_of(self, day: date, pattern: str) -> set[str]:
        return {rid for rid, kind in self.planted[day].items() if kind == pattern}


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    """The daily job materialized for the sharer's day and the burst's day, against a fresh simulator."""
    root = tmp_path_factory.mktemp("planted")
    days = [TODAY - timedelta(days=2), TODAY - timedelta(days=1)]
    with start(SimulatorConfig(seed=1, port=0)) as sim:
        world = _make_world(sim, root, days, per_day=60)
        for day in days:
            assert world.run_day(day).success
        yield Planted(world, {day: sim.population.planted(day) for day in days})


@pytest.fixture
def event_v3() -> dict:
    """A complete v3 event body with every product (`tests/data/event_v3.json`), parsed, fresh for each test."""
    import orjson

    return orjson.loads((REPO / "tests" / "data" / "event_v3.json").read_bytes())


def _store_at(warehouse: Path) -> Warehouse:
    return open_warehouse(WarehouseSettings(directory=str(warehouse)))


@dataclass
class RunningReceiver:
    """A webhook receiver serving `warehouse` at `url` (in a thread or a process); `stop()` lands its inbox."""

    url: str
    warehouse: Path
    stop: Callable[[], None]
    proc: subprocess.Popen | None = None
    log: list[str] | None = None

    def bronze(self) -> Bronze:
        return _store_at(self.warehouse).bronze

    def inbox(self) -> Path:
        return _store_at(self.warehouse).state.webhook_inbox_dir


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[..., RunningReceiver]]:
    """A factory `webhook_receiver(warehouse, secrets=("s3cret",), land_interval_s=60.0)`: a receiver served by
    uvicorn in a thread on an ephemeral loopback port (`secrets=None`: insecure mode); stopped afterwards."""
    running: list[RunningReceiver] = []

    def start_receiver(
        warehouse: Path, secrets: tuple[str, ...] | None = ("s3cret",), land_interval_s: float = 60.0
    ) -> RunningReceiver:
        store, log = _store_at(warehouse), []
        state = store.state
        config = ReceiverConfig(
            inbox_dir=state.webhook_inbox_dir,
            bronze=store.bronze,
            lock_path=state.lock_path(INBOX_LOCK),
            secrets=None if secrets is None else WebhookSecrets(secrets),
            land_interval_s=land_interval_s,
            log=log.append,
        )
        sock = socket.create_server(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "the webhook receiver did not start"

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=30)

        handle = RunningReceiver(f"http://127.0.0.1:{sock.getsockname()[1]}", warehouse, stop, log=log)
        running.append(handle)
        return handle

    yield start_receiver
    for handle in running:
        handle.stop()


def start_receiver_process(warehouse: Path, secrets: str | None = "s3cret", *args: str, **env: str) -> RunningReceiver:
    """`python -m pipelines.webhooks serve --port 0` as its own process (for kill -9 and the command line)."""
    environ = {**os.environ, "FPWH_WAREHOUSE_DIR": str(warehouse), **env}
    environ.pop(WEBHOOK_SECRET_ENV, None)
    if secrets is not None:
        environ[WEBHOOK_SECRET_ENV] = secrets
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.webhooks", "serve", "--port", "0", *args],
        cwd=REPO,
        env=environ,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    if "listening on" not in first:
        proc.wait(timeout=30)
        return RunningReceiver("", warehouse, lambda: None, proc, [first, proc.stderr.read()])
    url = first.split("listening on ", 1)[1].split()[0]

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)

    return RunningReceiver(url, warehouse, stop, proc, [first])


# --- the shared services of a deployment: PostgreSQL (this machine's) and an S3-compatible store (moto) -------
POSTGRES_ADMIN_URL = os.environ.get("FPWH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards), as a SQLAlchemy URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"fpwh_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as con:
            con.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as error:
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error.orig}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from pipelines.storage.database import dispose

    dispose(url)
    with admin.connect() as con:
        con.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@dataclass
class S3:
    """An S3-compatible server (moto) on a loopback port, with a bucket, and the AWS variables that reach it."""

    endpoint: str
    bucket: str
    env: dict[str, str]

    def url(self, prefix: str = "warehouse") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def keys(self, prefix: str = "") -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """A moto S3 server in its own process and a fresh bucket; the AWS_* variables point this process at it."""
    import boto3

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    deadline = time.monotonic() + 60
    while True:
        try:
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="fpwh")
            break
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise
            time.sleep(0.1)
    yield S3(endpoint, "fpwh", env)
    server.terminate()
    server.wait(timeout=30)
