"""Crash-safe file replacement shared by bronze, the lake and the warehouse.

Every file we publish is written under a hidden temp name in its final folder, fsynced, renamed over its
final name with `os.replace` and the folder fsynced. A rename within one file system is atomic, so a reader
(or a process restarted after kill -9) sees the old file or the new one, never a half-written one. Temp
names start with a dot and end in `.tmp`, so no reader's glob ever matches them. A write that fills the disk removes
its temp file and raises `DiskFull`, one line naming the file, the space left and what to free.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"
# A temp file untouched for this long belongs to a writer that died; younger ones may be in flight.
STALE_TEMP_AGE_S = 3600.0


# How a full disk shows: OSError's errno, or the text of pyarrow, DuckDB and SQLite errors that drop it.
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "database or disk is full", "Disk quota exceeded")


class DiskFull(OSError):
    """A write failed because the disk (or quota) is full: one line naming the file, the space left and what to free."""

    def __init__(self, path: Path) -> None:
        folder = _existing_parent(path)
        free = shutil.disk_usage(folder).free
        super().__init__(
            errno.ENOSPC,
            f"disk full: could not write {path} ({free:,} bytes free on the file system of {folder}); nothing "
            "half-written was kept. Free space there: the warehouse's `corrupt/` folder once inspected, replaced "
            "files (lower FPWH_SNAPSHOT_RETENTION_HOURS), raw bodies (FPWH_RAW_RETENTION_DAYS), or give "
            "FPWH_WAREHOUSE_DIR a larger disk; then run again",
        )
        self.path, self.free = path, free

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(error: BaseException) -> bool:
    """True when `error` says the disk or quota is full, whichever library raised it."""
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    return any(text in str(error) for text in _FULL_TEXTS)


@contextlib.contextmanager
def reporting_disk_full(path: Path) -> Iterator[None]:
    """Re-raise a full disk met while writing at `path` as `DiskFull` (one line: the path and what to free)."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise DiskFull(path) from error
        raise


def _existing_parent(path: Path) -> Path:
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder if folder.is_dir() else folder.parent


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
    with reporting_disk_full(path):
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
    """True for an in-flight or abandoned temp file made by `temp_path_for` (or its DuckDB write-ahead log)."""
    name = path.name  # DuckDB writes its temp database's write-ahead log beside it: `<temp>.wal`
    return name.startswith(".") and (name.endswith(TEMP_SUFFIX) or name.endswith(f"{TEMP_SUFFIX}.wal"))


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
