"""The silver Parquet lake: one file per table and day, `<lake>/<table>/day=YYYY-MM-DD/data.parquet`.

A day is the unit of work and of replacement: re-running a day rewrites its one file whole (no duplicates),
and the rewrite is a rename (a reader that opens the file sees the old day or the new day, never half of
one). `day` is the hive key, so it lives in the folder name and not in the file. A reader that opens the
same path twice in one read (DuckDB does) can pair the two versions and fail; so the warehouse views read
hard-linked snapshots (see `snapshots.py`) and `read_table` reads each file through one open handle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.storage.atomic import remove_stale_temps, write_atomically

DAY_COLUMN = "day"
DATA_FILE = "data.parquet"
_DAY_PREFIX = f"{DAY_COLUMN}="


def partition_path(lake_root: Path, table: str, day: date) -> Path:
    """The one file holding `table` for `day`."""
    return lake_root / table / f"{_DAY_PREFIX}{day.isoformat()}" / DATA_FILE


def table_glob(lake_root: Path, table: str) -> str:
    """An absolute glob matching every partition file of `table` (never the temp files beside them)."""
    return str(lake_root.resolve() / table / f"{_DAY_PREFIX}*" / DATA_FILE)


def write_partition(lake_root: Path, table: str, day: date, df: pl.DataFrame) -> Path:
    """Replace `table`'s partition for `day` with `df`, atomically; return the partition file.

    An exception or a kill while writing leaves the previous partition as it was.
    """
    path = partition_path(lake_root, table, day)
    data = df.drop(DAY_COLUMN, strict=False)
    write_atomically(path, lambda fh: data.write_parquet(fh, compression="zstd", statistics=True))
    remove_stale_temps(path.parent)
    return path


def partitions(lake_root: Path, table: str) -> list[date]:
    """The days for which `table` has a partition, oldest first."""
    table_dir = lake_root / table
    if not table_dir.is_dir():
        return []
    days = [
        date.fromisoformat(folder.name.removeprefix(_DAY_PREFIX))
        for folder in table_dir.iterdir()
        if folder.name.startswith(_DAY_PREFIX) and (folder / DATA_FILE).is_file()
    ]
    return sorted(days)


def read_table(lake_root: Path, table: str, days: Iterable[date] | None = None) -> pl.DataFrame:
    """Read `table` (all days, or `days`) with its `day` column last, columns unioned by name.

    Days written before a column existed read that column as null, like the DuckDB views do. Each file is
    opened once and read through that handle: a lazy scan re-opens the path after reading the footer, so
    a concurrent rewrite of the day could pair the old footer with the new file's bytes.
    """
    wanted = sorted(set(days)) if days is not None else partitions(lake_root, table)
    frames = []
    for day in wanted:
        with contextlib.suppress(FileNotFoundError), open(partition_path(lake_root, table, day), "rb") as fh:
            frames.append(pl.read_parquet(fh).with_columns(pl.lit(day).alias(DAY_COLUMN)))
    if not frames:
        return pl.DataFrame(schema={DAY_COLUMN: pl.Date})
    return pl.concat(frames, how="diagonal_relaxed").select(pl.exclude(DAY_COLUMN), DAY_COLUMN)
