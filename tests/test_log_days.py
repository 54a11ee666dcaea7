"""The log-file index: a day's run reads only the files holding that day, and the sensor judges files by stat alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from pipelines.log_days import SensorCursor, days_to_request, read_day, stamp_of
from pipelines.logs import read_logs
from pipelines.settings import WarehouseSettings
from pipelines.state import StateStore
from pipelines.tables import open_warehouse
from transforms.applog import LogOptions

FIRST = date(2024, 2, 1)
OPTIONS = LogOptions()


@pytest.fixture
def month_of_logs(write_day_log) -> Callable[..., str]:
    """`month_of_logs(tmp_path, days=30)`: one log file per day from FIRST; returns their glob."""

    def write(tmp_path: Path, days: int = 30) -> str:
        for offset in range(days):
            write_day_log(tmp_path / "logs", FIRST + timedelta(days=offset))
        return str(tmp_path / "logs" / "*.log")

    return write


def test_once_indexed_a_day_reads_only_the_files_that_hold_it(tmp_path: Path, month_of_logs):
    pattern, state = month_of_logs(tmp_path), state_at(tmp_path)
    first = read_day(pattern, OPTIONS, FIRST, state)
    assert len(first.result.files) == 30 and first.result.occurrences.height == 3  # nothing indexed yet
    day = FIRST + timedelta(days=17)
    later = read_day(pattern, OPTIONS, day, state)
    assert later.result.files == [str(tmp_path / "logs" / f"app-{day.isoformat()}.log")]
    assert later.files_skipped == 29 and len(later.files_matched) == 30
    assert later.result.occurrences.equals(read_logs(pattern, OPTIONS, day=day).occurrences)


def test_a_file_whose_size_or_mtime_changed_is_read_again_and_reindexed(tmp_path: Path, month_of_logs, request_id_on):
    pattern, state = month_of_logs(tmp_path, days=3), state_at(tmp_path)
    read_day(pattern, OPTIONS, FIRST, state)
    third = FIRST + timedelta(days=2)
    first_file = tmp_path / "logs" / f"app-{FIRST.isoformat()}.log"
    with first_file.open("ab") as fh:  # a late line of the third day lands in the first day's file
        fh.write(orjson.dumps({"requestId": request_id_on(third, 99)}) + b"\n")
    logs = read_day(pattern, OPTIONS, third, state)
    assert sorted(logs.result.files) == sorted([str(first_file), str(tmp_path / "logs" / f"app-{third}.log")])
    assert logs.result.occurrences.height == 4
    assert state.log_file_days()[str(first_file)]["days"] == [FIRST.isoformat(), third.isoformat()]


def test_a_file_without_any_request_id_is_indexed_as_such_and_not_read_again(tmp_path: Path, month_of_logs):
    pattern, state = month_of_logs(tmp_path, days=2), state_at(tmp_path)
    noise = tmp_path / "logs" / "nginx.log"
    noise.write_bytes(b"GET /health 200\n" * 50)
    assert str(noise) in read_day(pattern, OPTIONS, FIRST, state).result.files
    again = read_day(pattern, OPTIONS, FIRST, state)
    assert str(noise) not in again.result.files and again.files_without_ids == [str(noise)]


def test_the_index_keeps_every_writers_entries_and_forgets_vanished_files(tmp_path: Path, write_day_log):
    state = state_at(tmp_path)
    a, b = write_day_log(tmp_path, FIRST), write_day_log(tmp_path / "b", FIRST)
    state.save_log_file_days({str(a): {"size": 1, "mtime_ns": 1, "days": []}})
    state.save_log_file_days({str(b): {"size": 2, "mtime_ns": 2, "days": []}})
    assert set(state.log_file_days()) == {str(a), str(b)}
    a.unlink()
    state.save_log_file_days({})
    assert set(state.log_file_days()) == {str(b)}


def test_the_sensor_asks_for_a_new_files_mtime_day_then_for_every_day_the_index_finds(tmp_path: Path, month_of_logs):
    pattern, state = month_of_logs(tmp_path, days=3), state_at(tmp_path)
    written = datetime.combine(FIRST + timedelta(days=2), datetime.min.time(), UTC) + timedelta(hours=23)
    for path in (tmp_path / "logs").iterdir():
        os.utime(path, (written.timestamp(), written.timestamp()))
    stamps = {str(p): stamp_of(str(p)) for p in (tmp_path / "logs").iterdir()}
    days, cursor = days_to_request(stamps, SensorCursor.parse(None), state.log_file_days())
    assert days == [written.date().isoformat()] and len(cursor.pending) == 3  # not indexed: where lines landed
    read_day(pattern, OPTIONS, FIRST, state)  # a run indexes them
    days, cursor = days_to_request(stamps, cursor, state.log_file_days())
    assert days == [(FIRST + timedelta(days=n)).isoformat() for n in range(3)] and not cursor.pending
    assert days_to_request(stamps, cursor, state.log_file_days())[0] == []  # nothing changed since


def test_aliases_of_the_files_matched_are_reported_whichever_files_the_day_reads(tmp_path: Path, write_day_log):
    real = write_day_log(tmp_path / "logs", FIRST)
    (tmp_path / "logs" / "app-current.log").symlink_to(real)
    logs = read_day(str(tmp_path / "logs" / "*.log"), OPTIONS, FIRST, state_at(tmp_path))
    assert logs.result.aliases_skipped == [(str(tmp_path / "logs" / "app-current.log"), str(real))]


def state_at(tmp_path: Path) -> StateStore:
    """The run state of a warehouse in `tmp_path/warehouse`."""
    return open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse"))).state
