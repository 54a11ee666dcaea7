"""Crash-safe file replacement shared by bronze, the lake and the warehouse.

Every file we publish is written under a hidden temp name in its final folder, fsynced, renamed over its
final name with `os.replace` and the folder fsynced. A rename within one file system is atomic, so a reader
(or a process restarted after kill -9) sees the old file or the new one, never a half-written one. Temp
names start with a dot and end in `.tmp`, so no reader's glob ever matches them.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"
# A temp file untouched for this long belongs to a writer that died; younger ones may be in flight.
STALE_TEMP_AGE_S = 3600.0


def temp_path_for(path: Path) -> Path:
    """A unique hidden sibling of `path`, for one writer's in-flight copy."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable (a rename is only durable once its folder is synced)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file written by a library that does not fsync (DuckDB's close does not)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it is fsynced and renamed onto `path`, on error removed.

    For writers that want a path (DuckDB, pyarrow). The temp file is deleted whatever the exception, so a
    failed write leaves the previous `path` untouched and no litter.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write` with an open temp file, then replace `path` with it atomically."""
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
    return path


def is_temp(path: Path) -> bool:
    """True for an in-flight or abandoned temp file made by `temp_path_for`."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def remove_stale_temps(folder: Path, older_than_s: float = STALE_TEMP_AGE_S) -> int:
    """Delete temp files left in `folder` by killed writers; return how many were removed."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in folder.iterdir():
        if is_temp(entry):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
    return removed
