"""Inter-process exclusive locks in `<warehouse>/.locks/`, so that two runs never write the same thing.

flock(2) locks belong to an open file and the kernel drops them when the holder exits, even on kill -9, so
a crashed run never leaves a stale lock. The holder writes who it is into the lock file; a waiter that
gives up quotes it in its error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

_POLL_S = 0.05


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than we were willing to wait."""


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout_s: float, purpose: str) -> Iterator[None]:
    """Hold an exclusive flock on `path` for the `with` block, waiting up to `timeout_s` for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        deadline = time.monotonic() + timeout_s
        while not _try_lock(fh):
            if time.monotonic() >= deadline:
                fh.seek(0)
                holder = fh.read().strip() or "an unknown process"
                raise LockTimeout(
                    f"waited {timeout_s:g}s to {purpose} but {path} is held by {holder}; "
                    "wait for it to finish, or stop that process"
                )
            time.sleep(_POLL_S)
        try:
            fh.truncate(0)
            fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(UTC).isoformat()}")
            fh.flush()
            yield
        finally:
            fh.truncate(0)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _try_lock(fh: TextIO) -> bool:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
