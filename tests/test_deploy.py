"""The deployment in deploy/: this machine runs no containers, so these tests run the commands the Dockerfile, the
Compose file and the Helm values run, as processes, against the real services standing in for the containers' (the
local PostgreSQL for `postgres`, a moto server for `minio`). The stores' own commands (`postgres`, `minio`, `mc`)
are theirs, not ours, and are not run.

The slow test is the deployment end to end: `init` (migrate the instance, pin the pool), the code server of the
Dockerfile's CMD, the webserver and the daemon of the Compose file over an instance in a fresh PostgreSQL database;
the webserver sees the code location, a run of one day submitted through it waits in the queue until the daemon
launches it through the code server, and the day lands in an `s3://` warehouse with a PostgreSQL catalog.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from dagster import DagsterEventType, DagsterInstance, DefaultRunLauncher, QueuedRunCoordinator

from pipelines.defs.automation import DAILY_JOB
from pipelines.settings import WarehouseSettings
from pipelines.tables import open_warehouse
from tests.conftest import REPO, TODAY, World

DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent
POOL = "fingerprint_api"
LOCATION = "fingerprint"


# --- reading the deployment's files -------------------------------------------------------------------------------
@dataclass
class Dockerfile:
    """The instructions of deploy/Dockerfile that matter to a process: ENV, WORKDIR, COPY, RUN and CMD."""

    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)  # destination in the image -> source in the repository
    runs: list[str] = field(default_factory=list)
    workdir: str = "/"
    cmd: list[str] = field(default_factory=list)
    base: str = ""

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        parsed = cls()
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            op, _, rest = line.partition(" ")
            rest = rest.strip()
            if op == "FROM":
                parsed.base = rest
            elif op == "ARG":
                name, _, default = rest.partition("=")
                parsed.args[name] = default
            elif op == "ENV":
                for pair in shlex.split(rest):
                    name, _, value = pair.partition("=")
                    parsed.env[name] = value
            elif op == "WORKDIR":
                parsed.workdir = rest
            elif op == "COPY":
                *sources, dest = shlex.split(rest)
                dest = posixpath.join(parsed.workdir, dest)
                for source in sources:
                    into = dest.endswith("/") and not (REPO / source).is_dir()  # a file into a folder keeps its name
                    target = posixpath.join(dest, posixpath.basename(source)) if into else dest
                    parsed.copies[posixpath.normpath(target)] = source.rstrip("/")
            elif op == "RUN":
                parsed.runs.append(rest)
            elif op == "CMD":
                parsed.cmd = json.loads(rest)
        return parsed


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))


def dockerfile() -> Dockerfile:
    return Dockerfile.read(DEPLOY / "Dockerfile")


def option(argv: list[str], flag: str) -> str:
    """The value after `flag` in a command line."""
    return argv[argv.index(flag) + 1]


def with_option(argv: list[str], flag: str, value: str) -> list[str]:
    """`argv` with the value after `flag` replaced (a port or a host the test picks)."""
    at = argv.index(flag) + 1
    return [*argv[:at], value, *argv[at + 1 :]]


def with_driver(url: str) -> str:
    """A PostgreSQL URL as deploy/ writes DAGSTER_POSTGRES_URL: with its driver (Dagster hands it to SQLAlchemy 2.1,
    which maps a bare postgresql:// to psycopg 3; the lock holds psycopg2)."""
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


# --- the files, checked without running anything ------------------------------------------------------------------
def test_the_image_installs_the_product_exactly_from_the_lock():
    """Each `uv sync` of the Dockerfile, run here with `--dry-run` into a fresh environment: frozen to uv.lock, the
    product's dependencies (Dagster's PostgreSQL storage among them), none of the dev group. Same uv as ./fpwh."""
    image = dockerfile()
    fpwh = (REPO / "fpwh").read_text(encoding="utf-8")
    assert f'UV_VERSION="{image.args["UV_VERSION"]}"' in fpwh
    assert image.base.startswith("python:3.11")  # the Python the lock and the suite run on
    syncs = [run for run in image.runs if run.startswith("uv sync")]
    assert syncs and all("--frozen" in run and "--no-dev" in run for run in syncs)
    uv = REPO / ".tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is provisioned by ./fpwh setup")
    for run in syncs:
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": "/nonexistent/fpwh-venv", "UV_PYTHON_DOWNLOADS": "never"}
        done = subprocess.run(
            [str(uv), *shlex.split(run)[1:], "--dry-run"], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        plan = done.stdout + done.stderr
        assert " + dagster-postgres==" in plan and " + dagster-webserver==" in plan
        assert " + pytest==" not in plan and " + ruff==" not in plan
    assert not Path("/nonexistent/fpwh-venv").exists()


def test_the_image_holds_what_the_code_location_reads():
    """The folders the product reads at run time are copied, next to each other (editable install: sql/ beside
    pipelines/), and the instance files land where DAGSTER_HOME and the commands look for them."""
    image = dockerfile()
    workdir = image.workdir
    for folder in ("pipelines", "transforms", "sql"):
        assert image.copies.get(f"{workdir}/{folder}") == folder
    assert image.copies[f"{image.env['DAGSTER_HOME']}/dagster.yaml"] == "deploy/dagster.yaml"
    for service in ("webserver", "daemon"):
        workspace = option(compose()["services"][service]["command"], "-w")
        assert image.copies[workspace] == "deploy/workspace.yaml"
    assert image.cmd[:3] == ["dagster", "code-server", "start"]
    assert option(image.cmd, "-m") == "pipelines.definitions"
    assert option(image.cmd, "-h") == "0.0.0.0"  # reachable from the other containers


def test_compose_wires_the_services_together():
    """Every service the issue names; each Dagster process on the same instance database; the code location's port
    the same in the image, the workspace's environment and the health check; secrets only by interpolation."""
    spec = compose()
    services = spec["services"]
    assert {"postgres", "minio", "init", "code", "webserver", "daemon"} <= set(services)
    image = dockerfile()
    for name in ("init", "code", "webserver", "daemon"):
        env = services[name]["environment"]
        instance_url = env["DAGSTER_POSTGRES_URL"]
        assert instance_url.startswith("postgresql+psycopg2://") and "@postgres:5432/" in instance_url
        assert env["DAGSTER_CODE_SERVER_HOST"] == "code"
        assert env["DAGSTER_CODE_SERVER_PORT"] == option(image.cmd, "-p")
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    code = services["code"]
    assert "command" not in code  # the image's CMD
    assert option(code["healthcheck"]["test"], "-p") == option(image.cmd, "-p")
    env = code["environment"]
    assert env["FPWH_WAREHOUSE_DIR"].startswith("s3://")
    assert env["FPWH_CATALOG_URL"].startswith("postgresql://")
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    for secret in ("FINGERPRINT_SECRET_API_KEY", "AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD"):
        text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
        assert f"${{{secret}" in text  # interpolated from the shell or .env, never written here
    assert env["FINGERPRINT_SECRET_API_KEY"].startswith("${FINGERPRINT_SECRET_API_KEY")
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code"]["condition"] == "service_healthy"
        assert "FINGERPRINT_SECRET_API_KEY" not in services[name]["environment"]  # only where runs execute
    assert services["code"]["depends_on"]["init"]["condition"] == "service_completed_successfully"


def test_the_instance_is_postgres_with_the_queued_coordinator_and_the_pool_limit(tmp_path, postgres_url, monkeypatch):
    """deploy/dagster.yaml loads in Dagster 1.13 (its schema validates it), on the database the environment names."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", with_driver(postgres_url))
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.run_queue_config.max_concurrent_runs == 4


def test_helm_values_launch_runs_on_kubernetes_from_the_image():
    """As far as the chart can be checked offline: the keys its schema names for the user deployment, the K8s run
    launcher, the queued coordinator, the pools and PostgreSQL; the same limits as deploy/dagster.yaml."""
    values = helm_values()
    deployments = values["dagster-user-deployments"]
    assert deployments["enabled"] is True
    (location,) = deployments["deployments"]
    assert location["name"] == LOCATION
    assert {"repository", "tag", "pullPolicy"} <= set(location["image"])
    image_cmd = dockerfile().cmd
    assert location["codeServerArgs"] == ["-m", option(image_cmd, "-m")]
    assert location["includeConfigInLaunchedRuns"]["enabled"] is True
    env = {item["name"]: item["value"] for item in location["env"]}
    assert env["FPWH_WAREHOUSE_DIR"].startswith("s3://")
    assert [s["name"] for s in location["envSecrets"]] == ["fpwh-secrets"]
    assert "FINGERPRINT_SECRET_API_KEY" not in env and "FPWH_CATALOG_URL" not in env  # secrets stay in the Secret
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert "k8sRunLauncher" in values["runLauncher"]["config"]
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))["concurrency"]
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["pools"]["defaultLimit"] == instance["pools"]["default_limit"]
    assert concurrency["runs"]["maxConcurrentRuns"] == instance["runs"]["max_concurrent_runs"]
    postgres = values["postgresql"]
    assert {"postgresqlHost", "postgresqlUsername", "postgresqlDatabase", "service"} <= set(postgres)
    assert "postgresqlPassword" not in postgres  # from the pre-created secret
    assert values["generatePostgresqlPasswordSecret"] is False


# --- the deployment, run as processes -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Deployment:
    """The Compose services as processes: their environment with this machine's endpoints, their logs in `logs`."""

    home: Path
    env: dict[str, str]
    logs: Path
    image: Dockerfile
    procs: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, command: list[str]) -> list[str]:
        """A container's command line with the image's paths replaced by the repository's."""
        return [str(REPO / self.image.copies[a]) if a in self.image.copies else a for a in command]

    def run(self, command: list[str], name: str) -> subprocess.CompletedProcess:
        with open(self.logs / f"{name}.log", "ab") as out:
            return subprocess.run(self.argv(command), cwd=REPO, env=self.env, stdout=out, stderr=out, timeout=180)

    def start(self, command: list[str], name: str) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            self.argv(command), cwd=REPO, env=self.env, stdout=out, stderr=out, start_new_session=True
        )
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.iterdir()))


def service_env(service: Mapping, values: Mapping[str, str]) -> dict[str, str]:
    """A Compose service's environment with this machine's values; every variable it sets must have one."""
    declared = service.get("environment", {})
    missing = set(declared) - set(values)
    assert not missing, f"the test gives no value for {sorted(missing)}"
    return {name: values[name] for name in declared}


def wait_until(check: Callable[[], object], timeout_s: float, what: str, deployment: Deployment) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        for proc in deployment.procs:
            assert proc.poll() is None, f"a process exited while waiting for {what}:\n{deployment.output()}"
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{deployment.output()}")


LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name
    locationOrLoadError { __typename
      ... on RepositoryLocation { repositories { name jobs { name } } }
      ... on PythonError { message } } } } } }
"""


def loaded_jobs(url: str) -> set[str] | None:
    """The jobs the webserver sees in the `fingerprint` location; None until it answers with the location loaded."""
    try:
        answer = requests.post(f"{url}/graphql", json={"query": LOCATIONS_QUERY}, timeout=10).json()
    except (requests.RequestException, ValueError):
        return None
    for entry in answer["data"]["workspaceOrError"].get("locationEntries", []):
        loaded = entry["locationOrLoadError"]
        if entry["name"] == LOCATION and loaded and loaded["__typename"] == "RepositoryLocation":
            return {job["name"] for repo in loaded["repositories"] for job in repo["jobs"]}
        if entry["name"] == LOCATION and loaded and loaded["__typename"] == "PythonError":
            pytest.fail(f"the code location failed to load: {loaded['message']}")
    return None


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message } } }
"""
RUN_STATUS = "query Status($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"


def graphql(url: str, query: str, variables: Mapping[str, object]) -> dict:
    answer = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]


def launch_run(url: str, day: str) -> str:
    """Submit the daily job for `day` through the webserver, as the UI's Materialize button does; its run id."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": DAILY_JOB},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
        "runConfigData": {},
    }
    launched = graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def run_status(url: str, run_id: str) -> str:
    return graphql(url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]


@pytest.fixture
def deployment(tmp_path, postgres_url, s3, simulator, make_world) -> Iterator[tuple[Deployment, World, dict[str, str]]]:
    """The Compose deployment's Dagster processes over a fresh PostgreSQL database, a moto bucket and a simulator."""
    sim = simulator()
    world = make_world(sim, tmp_path / "world", [TODAY - timedelta(days=1)], per_day=6)
    image = dockerfile()
    home = tmp_path / "dagster_home"
    home.mkdir()
    for target, source in image.copies.items():
        if target.startswith(image.env["DAGSTER_HOME"] + "/"):
            shutil.copy(REPO / source, home / Path(target).name)
    spec = compose()
    code_port = str(free_port())
    values = {
        "DAGSTER_POSTGRES_URL": with_driver(postgres_url),
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": code_port,
        "FPWH_WAREHOUSE_DIR": spec["services"]["code"]["environment"]["FPWH_WAREHOUSE_DIR"],  # s3://fpwh/warehouse
        "FPWH_CATALOG_URL": postgres_url,  # Compose: the same database as the instance
        "FINGERPRINT_SECRET_API_KEY": sim.api_key,
        "FINGERPRINT_REGION": "us",
        "FPWH_LOG_GLOB": str(world.root / "logs" / "*"),
        **s3.env,
    }
    assert values["FPWH_WAREHOUSE_DIR"] == s3.url("warehouse")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FPWH_", "FINGERPRINT_", "DAGSTER_"))}
    base |= {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",  # the image's PATH starts with its venv
        "DAGSTER_HOME": str(home),
        "DAGSTER_DISABLE_TELEMETRY": image.env["DAGSTER_DISABLE_TELEMETRY"],
        "FINGERPRINT_API_URL": sim.url,  # the simulator instead of api.fpjs.io (wins over the region)
    }
    env = base | service_env(spec["services"]["code"], values)
    for name in ("init", "webserver", "daemon"):
        assert service_env(spec["services"][name], values).items() <= env.items()
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Deployment(home, env, logs, image)
    try:
        yield running, world, values
    finally:
        running.stop()


@pytest.mark.slow
def test_a_run_goes_through_the_queue_to_the_code_location_and_lands_in_the_bucket(deployment, monkeypatch):
    """Compose's commands in its order: init, the code server until its health check passes, webserver and daemon;
    then one day submitted through the webserver's GraphQL API, as the UI does."""
    running, world, values = deployment
    services = compose()["services"]
    init = services["init"]["command"]
    assert running.run(init, "init").returncode == 0, running.output()

    code_cmd = with_option(with_option(running.image.cmd, "-p", values["DAGSTER_CODE_SERVER_PORT"]), "-h", "127.0.0.1")
    running.start(code_cmd, "code")
    health = services["code"]["healthcheck"]["test"][1:]  # after "CMD"
    health = with_option(health, "-p", values["DAGSTER_CODE_SERVER_PORT"])
    wait_until(lambda: running.run(health, "healthcheck").returncode == 0, 240, "the code server", running)

    web_port = str(free_port())
    web_cmd = with_option(with_option(services["webserver"]["command"], "-p", web_port), "-h", "127.0.0.1")
    running.start(web_cmd, "webserver")
    running.start(services["daemon"]["command"], "daemon")
    url = f"http://127.0.0.1:{web_port}"
    wait_until(lambda: loaded_jobs(url) is not None, 240, "the webserver to load the code location", running)
    assert DAILY_JOB in (loaded_jobs(url) or set())

    day = world.days[0].isoformat()
    run_id = launch_run(url, day)
    terminal = {"SUCCESS", "FAILURE", "CANCELED"}
    wait_until(lambda: run_status(url, run_id) in terminal, 420, "the run", running)
    assert run_status(url, run_id) == "SUCCESS", running.output()

    monkeypatch.setenv("DAGSTER_POSTGRES_URL", values["DAGSTER_POSTGRES_URL"])
    with DagsterInstance.from_config(str(running.home)) as instance:
        kinds = [entry.dagster_event_type for entry in instance.all_logs(run_id)]
        # queued by the webserver, launched by the daemon (the only process that drains the queue), then
        # started in the code server's subprocess
        assert kinds.index(DagsterEventType.RUN_ENQUEUED) < kinds.index(DagsterEventType.RUN_STARTING)
        assert kinds.index(DagsterEventType.RUN_STARTING) < kinds.index(DagsterEventType.RUN_START)
        assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 1  # pinned by `init`

    store = open_warehouse(
        WarehouseSettings(directory=values["FPWH_WAREHOUSE_DIR"], catalog_url=values["FPWH_CATALOG_URL"])
    )
    with store.reader() as con:
        events = con.execute("SELECT count(*) FROM events WHERE day = ?", [day]).fetchone()[0]
        ok = con.execute(
            "SELECT count(DISTINCT request_id) FROM fetches_latest WHERE day = ? AND outcome = 'ok'", [day]
        ).fetchone()[0]
    assert events == ok > 0
    every_log = "".join(log.read_text(errors="replace") for log in running.logs.iterdir())
    assert values["FINGERPRINT_SECRET_API_KEY"] not in every_log
