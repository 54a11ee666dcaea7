"""The Parquet lake: one atomic, idempotent file per table and day."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.storage import atomic, lake

REPO = Path(__file__).resolve().parents[1]
DAY = date(2024, 3, 1)


def events(n: int, version: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"request_id": [f"r{i}" for i in range(n)], "version": [version] * n},
        schema={"request_id": pl.String, "version": pl.Int32},
    )


def files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_partition_lands_at_the_documented_path_without_the_day_column(tmp_path: Path) -> None:
    path = lake.write_partition(tmp_path, "events", DAY, events(3).with_columns(day=pl.lit(DAY)))

    assert path == tmp_path / "events" / "day=2024-03-01" / "data.parquet"
    assert pq.read_schema(path).names == ["request_id", "version"]
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_reading_a_table_gives_its_rows_with_day_last(tmp_path: Path) -> None:
    lake.write_partition(tmp_path, "events", DAY, events(3))
    lake.write_partition(tmp_path, "events", date(2024, 3, 2), events(2))

    table = lake.read_table(tmp_path, "events")

    assert table.columns == ["request_id", "version", "day"]
    assert table.schema["day"] == pl.Date
    assert table.group_by("day").len().sort("day")["len"].to_list() == [3, 2]
    assert lake.read_table(tmp_path, "events", days=[date(2024, 3, 2)]).height == 2


def test_rewriting_a_day_replaces_it_without_duplicates(tmp_path: Path) -> None:
    lake.write_partition(tmp_path, "events", DAY, events(5, version=1))
    lake.write_partition(tmp_path, "events", DAY, events(4, version=2))

    table = lake.read_table(tmp_path, "events")

    assert table.height == 4
    assert table["version"].unique().to_list() == [2]
    assert files_under(tmp_path) == ["data.parquet"]


def test_days_written_before_a_column_existed_read_it_as_null(tmp_path: Path) -> None:
    lake.write_partition(tmp_path, "events", DAY, events(2))
    lake.write_partition(tmp_path, "events", date(2024, 3, 2), events(1).with_columns(city=pl.lit("Oslo")))

    table = lake.read_table(tmp_path, "events").sort("day")

    assert table["city"].to_list() == [None, None, "Oslo"]


def test_partitions_are_listed_oldest_first(tmp_path: Path) -> None:
    for day in (date(2024, 3, 2), date(2024, 2, 28), DAY):
        lake.write_partition(tmp_path, "events", day, events(1))

    assert lake.partitions(tmp_path, "events") == [date(2024, 2, 28), DAY, date(2024, 3, 2)]


def test_a_table_never_written_reads_as_empty(tmp_path: Path) -> None:
    assert lake.partitions(tmp_path, "events") == []
    assert lake.read_table(tmp_path, "events").height == 0


def test_a_write_that_raises_leaves_the_previous_partition_and_no_temp_file(tmp_path: Path) -> None:
    lake.write_partition(tmp_path, "events", DAY, events(3))
    unwritable = pl.DataFrame({"o": [object()]}, schema={"o": pl.Object})

    with pytest.raises(pl.exceptions.ComputeError):
        lake.write_partition(tmp_path, "events", DAY, unwritable)

    assert lake.read_table(tmp_path, "events").height == 3
    assert files_under(tmp_path) == ["data.parquet"]


def test_a_rename_that_fails_leaves_the_previous_partition_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write_partition(tmp_path, "events", DAY, events(3))

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        lake.write_partition(tmp_path, "events", DAY, events(9))

    assert lake.read_table(tmp_path, "events").height == 3
    assert files_under(tmp_path) == ["data.parquet"]


def test_temp_files_of_killed_writers_are_cleaned_by_the_next_write(tmp_path: Path) -> None:
    path = lake.write_partition(tmp_path, "events", DAY, events(1))
    abandoned = atomic.temp_path_for(path)
    abandoned.write_bytes(b"half a parquet file")
    os.utime(abandoned, (0, 0))
    in_flight = atomic.temp_path_for(path)
    in_flight.write_bytes(b"another writer, still going")

    lake.write_partition(tmp_path, "events", DAY, events(2))

    assert not abandoned.exists()
    assert in_flight.exists()
    assert lake.read_table(tmp_path, "events").height == 2


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path
    import polars as pl
    from pipelines.storage.lake import write_partition

    n = int(sys.argv[2])
    frames = [pl.DataFrame({"version": [v] * n, "x": range(n)}).with_columns(
        s=pl.format("request-{}-{}", "x", "version")) for v in (1, 2)]
    print("ready", flush=True)
    i = 0
    while True:
        write_partition(Path(sys.argv[1]), "events", date(2024, 3, 1), frames[i % 2])
        i += 1
    """
)


def test_kill_9_while_rewriting_a_big_partition_always_leaves_a_whole_old_or_new_day(tmp_path: Path) -> None:
    rows = 300_000
    lake.write_partition(tmp_path, "events", DAY, pl.DataFrame({"version": [0] * rows, "x": range(rows)}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.05, 0.2, 0.45):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(rows)], stdout=subprocess.PIPE, env=env
        )
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            assert_one_whole_version(lake.read_table(tmp_path, "events"), rows)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert_one_whole_version(lake.read_table(tmp_path, "events"), rows)
        leftovers = [n for n in files_under(tmp_path) if n != "data.parquet"]
        assert all(atomic.is_temp(Path(n)) for n in leftovers)


def assert_one_whole_version(table: pl.DataFrame, rows: int) -> None:
    assert table.height == rows
    assert table["version"].n_unique() == 1
