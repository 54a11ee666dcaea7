"""Whether a day has anything left to do: a fingerprint of everything its run reads, compared with the last clean run's.

A day's run reads the log files that hold it, the settings and the code. When none of them changed since a run
that succeeded with every logged ID final (no failed fetch left to retry), running it again would rebuild the same
tables, so `fpwh run` reports the day as up to date instead of paying for a run (`--force` runs it anyway).

The log files are judged by the log-file index (`pipelines.log_days`): a file whose entry is stale (it changed
since it was read) may hold the day, unless it only grew and the day is older than the newest day it held before
(appended lines are newer than the file's newest day), which keeps the active, growing log from making every
past day look changed. A file never indexed may hold any day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path

from pipelines.log_days import indexed_days, stamp_of
from pipelines.logs import find_log_files
from pipelines.settings import Settings
from pipelines.state import StateStore

_CODE_ROOTS = ("pipelines", "transforms", "sql")
_REPO = Path(__file__).resolve().parents[1]


@cache
def code_fingerprint() -> str:
    """A hash of the code and SQL a run executes: a new version rebuilds every day it is asked to run."""
    digest = hashlib.sha256()
    for root in _CODE_ROOTS:
        for path in sorted((_REPO / root).rglob("*")):
            if path.suffix in (".py", ".sql") and path.is_file():
                digest.update(str(path.relative_to(_REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def day_fingerprint(day: date, settings: Settings, state: StateStore) -> str | None:
    """The fingerprint of what `day`'s run reads now, or None when a log file that may hold the day is unread."""
    index = state.log_file_days()
    held: list[str] = []
    for path in find_log_files(settings.logs.glob):
        stamp, entry = stamp_of(path), index.get(path)
        days = indexed_days(entry, stamp)
        if days is None:
            if not _only_grew_past(entry, stamp, day):
                return None
            days = set(entry["days"])  # type: ignore[index]  # what it held for the day has not changed
        if day.isoformat() in days:
            held.append(f"{path}\0{entry['size']}\0{entry['mtime_ns']}")  # type: ignore[index]
    digest = hashlib.sha256("\n".join([code_fingerprint(), settings.model_dump_json(), *held]).encode())
    return digest.hexdigest()


def _only_grew_past(entry: Mapping | None, stamp: tuple[int, int] | None, day: date) -> bool:
    """The file grew since it was indexed, and `day` is older than the newest day it held then."""
    if entry is None or stamp is None or stamp[0] <= entry.get("size", 0) or not entry.get("days"):
        return False
    return day.isoformat() < max(entry["days"])


def is_clean(outcomes: Mapping[str, int], still_to_do: int, failed_checks: int) -> bool:
    """A run after which running the day again could change nothing: no fetch to retry, no failed check."""
    return outcomes.get("failed", 0) == 0 and still_to_do == 0 and failed_checks == 0
