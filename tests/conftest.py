"""Shared fixtures: simulators on ephemeral ports, and the official API examples when they are checked out."""

from __future__ import annotations

import os

os.environ["DAGSTER_DISABLE_TELEMETRY"] = "1"  # before anything imports dagster

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulator.server import SimulatorConfig, SimulatorHandle, start

REPO = Path(__file__).resolve().parents[1]
SHARED_EXAMPLES = REPO.parent / "shared" / "fingerprint-api" / "examples"

StartSimulator = Callable[..., SimulatorHandle]


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
