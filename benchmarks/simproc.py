"""The simulator in its own process for benchmarks, so client and server do not share a GIL."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def simulator_process(seed: int, *options: str) -> Iterator[str]:
    """`python -m simulator --seed SEED OPTIONS` on an ephemeral port; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--seed", str(seed), *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        match = re.search(r"listening on (http://\S+)", process.stdout.readline())
        if not match:
            raise RuntimeError("the simulator did not report its URL")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def stats(url: str) -> dict:
    return requests.get(f"{url}/_simulator/stats", timeout=5).json()


def reset(url: str) -> None:
    requests.post(f"{url}/_simulator/reset", timeout=5).raise_for_status()
