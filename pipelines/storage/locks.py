"""Inter-process exclusive locks in `<warehouse>/.locks/`, so that two runs never write the same thing.

The lock is `filelock`'s, an flock(2) on Unix: it belongs to an open file and the kernel drops it when the holder
exits, even on kill -9, so a crashed run never leaves a stale lock. The holder writes who it is into a sidecar
file; a waiter that gives up quotes it in its error.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import filelock


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than we were willing to wait."""


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout_s: float, purpose: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the `with` block, waiting up to `timeout_s` for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = path.with_name(path.name + ".holder")
    lock = filelock.FileLock(path)
    try:
        lock.acquire(timeout=timeout_s, poll_interval=0.05)
    except filelock.Timeout:
        try:
            who = holder.read_text(encoding="utf-8").strip() or "an unknown process"
        except FileNotFoundError:
            who = "an unknown process"
        raise LockTimeout(
            f"waited {timeout_s:g}s to {purpose} but {path} is held by {who}; "
            "wait for it to finish, or stop that process"
        ) from None
    try:
        holder.write_text(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(UTC).isoformat()}")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()
