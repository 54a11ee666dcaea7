"""The persistent Dagster instance `fpwh run` records its runs in, so `dagster dev` shows them and their checks.

`DAGSTER_HOME` chooses the folder (Dagster's own variable); without it, `.dagster_home` in the current folder
(`./fpwh` runs from the repository). The instance's SQLite storages are created on first use, and two processes
creating them at once can collide (both create the tables, one fails). So `open_instance` initialises the folder
once, under an exclusive lock, before any run: every later process finds it ready.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines.settings import folder_problems
from pipelines.storage.locks import exclusive_lock

DEFAULT_HOME = ".dagster_home"
HOME_ENV = "DAGSTER_HOME"
_INIT_LOCK = ".fpwh-init.lock"
_READY = ".fpwh-initialised"  # written once the storages exist: later processes skip the lock and the first open
_INSTANCE_YAML = """\
# Written by fpwh on first use: the Dagster instance `fpwh run` records runs, materializations and check results in.
# Point `dagster dev` at this folder (DAGSTER_HOME) to see them. Dagster's options go here:
# https://docs.dagster.io/deployment/oss/dagster-yaml
telemetry:
  enabled: false
"""


def dagster_home(environ: Mapping[str, str] | None = None) -> Path:
    """The instance folder: `DAGSTER_HOME`, else `.dagster_home` in the current folder (absolute either way)."""
    env = os.environ if environ is None else environ
    return Path(env.get(HOME_ENV) or DEFAULT_HOME).expanduser().absolute()


def home_problems(home: Path) -> list[str]:
    """One line per reason the instance folder cannot be used (checked before any work starts)."""
    return folder_problems(HOME_ENV, str(home))


def prepare(home: Path) -> None:
    """Create the instance's folder, `dagster.yaml` and storages once, whichever process gets there first."""
    ready = home / _READY
    if ready.exists():
        return  # opening an instance costs ~1 s: do it once per folder, not once per command
    home.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(home / _INIT_LOCK, timeout_s=120.0, purpose="initialise the Dagster instance"):
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text(_INSTANCE_YAML, encoding="utf-8")
        with dg.DagsterInstance.from_config(str(home)):
            pass  # opening it creates and migrates the SQLite storages
        ready.touch()


@contextmanager
def open_instance(home: Path) -> Iterator[dg.DagsterInstance]:
    """The persistent instance in `home`, initialised first if needed; also exported as DAGSTER_HOME."""
    prepare(home)
    os.environ[HOME_ENV] = str(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
