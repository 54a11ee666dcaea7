"""Frozen copies of the lake, made of hard links, for the views of one published warehouse file.

Why not point the views at `lake/` directly: DuckDB opens a Parquet file more than once per query (at bind
time for its schema and size, again when scanning). When a lake partition is renamed over in between, the
query fails ("TProtocolException: Invalid data", "Prefetch registered for bytes outside file"); we measured
it on DuckDB 1.1, 1.4 and 2.0 with a single explicit file. So each publish hard-links every current
partition file into `<warehouse>/.snapshots/<id>/<table>/day=YYYY-MM-DD/data.parquet` and the views read
those. A hard link is the same inode as the lake file: no data is copied, and a later rewrite of the lake
(a new inode renamed over the lake path) never touches a file a view reads.

Snapshots other than the newest are deleted once older than a retention period; a connection opened before
that and still held afterwards must reconnect. A superseded partition's bytes stay on disk until the last
snapshot linking it is deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pipelines.storage import lake

SNAPSHOTS_DIR = ".snapshots"
SNAPSHOT_RETENTION_S = 24 * 3600.0


def snapshots_root(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / SNAPSHOTS_DIR


def create_snapshot(warehouse_dir: Path, lake_root: Path, tables: Iterable[str]) -> Path:
    """Hard-link the current partition files of `tables` into a new snapshot folder; return it.

    Each link takes whichever file the lake path names at that instant: a whole old or a whole new day.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    snapshot = snapshots_root(warehouse_dir) / f"{stamp}-{uuid.uuid4().hex[:8]}"
    try:
        snapshot.mkdir(parents=True)
        for table in tables:
            for day in lake.partitions(lake_root, table):
                link = lake.partition_path(snapshot, table, day)
                link.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):  # the day was deleted since we listed it
                    os.link(lake.partition_path(lake_root, table, day), link)
    except OSError as error:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise OSError(
            f"cannot hard-link the lake into {snapshot} ({error}); the lake and the warehouse folder must be "
            "on one local file system that supports hard links"
        ) from error
    return snapshot


def drop_snapshot(snapshot: Path) -> None:
    shutil.rmtree(snapshot, ignore_errors=True)


def drop_old_snapshots(warehouse_dir: Path, keep: Path, older_than_s: float = SNAPSHOT_RETENTION_S) -> int:
    """Delete snapshots other than `keep` created more than `older_than_s` ago; return how many."""
    root = snapshots_root(warehouse_dir)
    cutoff = time.time() - older_than_s
    old = [s for s in root.iterdir() if s.is_dir() and s != keep and s.stat().st_mtime < cutoff]
    for snapshot in old:
        drop_snapshot(snapshot)
    return len(old)
