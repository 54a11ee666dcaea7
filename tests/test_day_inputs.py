"""A day's inputs fingerprint: unchanged logs, settings and code mean nothing to do; any change to them means a run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from pipelines.day_inputs import day_fingerprint, is_clean
from pipelines.log_days import read_day
from pipelines.settings import Settings, WarehouseSettings
from pipelines.state import StateStore
from pipelines.tables import open_warehouse
from transforms.applog import LogOptions

FIRST = date(2024, 2, 1)
SECOND = FIRST + timedelta(days=1)
OPTIONS = LogOptions()


@pytest.fixture
def setup_logs(write_day_log, request_id_on) -> Callable[[Path], tuple[Settings, StateStore]]:
    """Two days of logs, the second day's file (the active log) also holding the end of the first day."""

    def setup(tmp_path: Path) -> tuple[Settings, StateStore]:
        write_day_log(tmp_path / "logs", FIRST)
        active = write_day_log(tmp_path / "logs", SECOND)
        with active.open("ab") as fh:
            fh.write(orjson.dumps({"requestId": request_id_on(FIRST, 50)}) + b"\n")
        settings = Settings().replace(logs={"glob": str(tmp_path / "logs" / "*.log")})
        return settings, state_at(tmp_path)

    return setup


def append(path: Path, request_id: str) -> None:
    with path.open("ab") as fh:
        fh.write(orjson.dumps({"requestId": request_id}) + b"\n")


def test_a_log_file_no_run_has_read_leaves_the_day_unknown(tmp_path: Path, setup_logs):
    settings, state = setup_logs(tmp_path)
    assert day_fingerprint(FIRST, settings, state) is None
    read_day(settings.logs.glob, OPTIONS, FIRST, state)
    assert day_fingerprint(FIRST, settings, state) is not None


def test_the_active_log_growing_leaves_older_days_unchanged_but_not_its_newest_day(
    tmp_path: Path, setup_logs, request_id_on
):
    settings, state = setup_logs(tmp_path)
    read_day(settings.logs.glob, OPTIONS, FIRST, state)
    first, second = day_fingerprint(FIRST, settings, state), day_fingerprint(SECOND, settings, state)
    append(tmp_path / "logs" / f"app-{SECOND.isoformat()}.log", request_id_on(SECOND, 77))
    assert day_fingerprint(FIRST, settings, state) == first
    assert day_fingerprint(SECOND, settings, state) is None  # its lines may have changed: run it
    read_day(settings.logs.glob, OPTIONS, SECOND, state)
    assert day_fingerprint(SECOND, settings, state) not in (None, second)


def test_a_changed_setting_changes_every_days_fingerprint(tmp_path: Path, setup_logs):
    settings, state = setup_logs(tmp_path)
    read_day(settings.logs.glob, OPTIONS, FIRST, state)
    other = settings.replace(api={"api_version": 4})
    assert day_fingerprint(FIRST, other, state) != day_fingerprint(FIRST, settings, state)


def test_only_a_run_without_fetches_to_retry_or_failed_checks_is_clean():
    assert is_clean({"ok": 5, "not_found": 1}, still_to_do=0, failed_checks=0)
    assert not is_clean({"ok": 5, "failed": 1}, still_to_do=0, failed_checks=0)
    assert not is_clean({"ok": 5}, still_to_do=2, failed_checks=0)
    assert not is_clean({"ok": 5}, still_to_do=0, failed_checks=1)


def state_at(tmp_path: Path) -> StateStore:
    """The run state of a warehouse in `tmp_path/warehouse`."""
    return open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse"))).state
