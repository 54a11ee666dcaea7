"""Which UTC days each application-log file holds, so that a day's run reads only the files holding that day.

Without it, every partition parsed every file the glob matched: a 90-day backfill over 90 days of logs read them
90 times. The index lives in the run state (`StateStore.log_file_days`), one entry per path with the size and
mtime it was taken at. An entry is trusted while both are unchanged; a file whose size or mtime changed (it grew,
was rotated in, rewritten) or that was never seen is read again by the next day's run, which re-indexes it. The
stamp is taken before the file is read, so lines appended during the read make the entry stale, never wrong.

The log-file sensor only stats files and reads this index (`days_to_request`); parsing belongs to the asset.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from pipelines.logs import LogReadResult, match_log_files, read_logs
from pipelines.state import StateStore
from transforms.applog import LogOptions

Stamp = tuple[int, int]  # (size in bytes, mtime in ns)


def stamp_of(path: str) -> Stamp | None:
    """The (size, mtime) a file's index entry is valid for; None when the file vanished."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def indexed_days(entry: Mapping | None, stamp: Stamp | None) -> set[str] | None:
    """The ISO days an index entry says its file holds, or None when the entry is missing or stale."""
    if entry is None or stamp is None or (entry.get("size"), entry.get("mtime_ns")) != stamp:
        return None
    return set(entry.get("days", ()))


@dataclass(frozen=True)
class DayLogs:
    """The day's occurrences (`result`, from `files_read` only) and how the glob's files were chosen."""

    result: LogReadResult
    files_matched: list[str]
    files_without_ids: list[str] = field(default_factory=list)  # indexed, holding no request ID on any day
    occurrences_read: int = 0  # in the files read, every day's (the denominator of their rejects)

    @property
    def files_skipped(self) -> int:
        return len(self.files_matched) - len(self.result.files)


def read_day(pattern: str, options: LogOptions, day: date, state: StateStore) -> DayLogs:
    """The occurrences of `day` in the files `pattern` matches, reading only files that hold it or are not indexed.

    Every file read is (re-)indexed with the days it holds. Reject counts cover the files read: a reject has no
    trustworthy day, and a file holding the day is where that day's unusable lines are.
    """
    found = match_log_files(pattern)
    matched = found.paths
    index = state.log_file_days()
    stamps = {path: stamp_of(path) for path in matched}
    known = {path: indexed_days(index.get(path), stamps[path]) for path in matched}
    wanted = [path for path in matched if known[path] is None or day.isoformat() in known[path]]
    result = read_logs(wanted, options)
    fresh = [path for path in wanted if known[path] is None and stamps[path] is not None]
    if fresh:
        state.save_log_file_days(_entries(result.occurrences, fresh, stamps))  # a sealed line is an occurrence too
    on_day = result.occurrences.filter(pl.col("log_day") == day)
    sealed = result.sealed.filter(pl.col("log_day") == day)
    day_result = LogReadResult(
        on_day, result.rejects, result.reject_counts, result.files, result.lines_read, found.aliases_skipped, sealed
    )
    without_ids = [path for path in matched if known[path] == set()]
    return DayLogs(day_result, matched, without_ids, result.occurrences.height)


def _entries(occurrences: pl.DataFrame, paths: list[str], stamps: Mapping[str, Stamp | None]) -> dict[str, dict]:
    """Index entries for `paths` from their occurrences: the stamp taken before the read, and the days held."""
    per_file = (
        occurrences.filter(pl.col("source_file").is_in(paths) & pl.col("log_day").is_not_null())
        .group_by("source_file")
        .agg(pl.col("log_day").unique().sort())
    )
    days = {row[0]: [d.isoformat() for d in row[1]] for row in per_file.iter_rows()}
    return {path: _entry(stamps[path], days.get(path, [])) for path in paths}  # type: ignore[arg-type]


def _entry(stamp: Stamp, days: list[str]) -> dict:
    return {"size": stamp[0], "mtime_ns": stamp[1], "days": days}


@dataclass(frozen=True)
class SensorCursor:
    """What the sensor saw: each file's stamp, and the files that changed before any run had indexed them."""

    files: dict[str, list[int]]
    pending: list[str]

    @classmethod
    def parse(cls, saved: Mapping | None) -> SensorCursor:
        saved = saved or {}
        files = saved.get("files", {})
        return cls(files if isinstance(files, dict) else {}, list(saved.get("pending", [])))

    def to_json(self) -> dict:
        return {"files": self.files, "pending": self.pending}


def days_to_request(
    stamps: Mapping[str, Stamp | None], cursor: SensorCursor, index: Mapping[str, Mapping]
) -> tuple[list[str], SensorCursor]:
    """The ISO days whose logs changed since `cursor`, judged by stat and the index only, and the next cursor.

    A changed file asks for the days its index entry lists when the entry is fresh; otherwise for the UTC day of
    its mtime (where appended lines land) and it stays pending: once a run has indexed it, its other days follow.
    """
    days: set[str] = set()
    pending: list[str] = []
    changed = [path for path, stamp in stamps.items() if stamp and cursor.files.get(path) != list(stamp)]
    for path in _unique([*changed, *cursor.pending]):
        stamp = stamps.get(path)
        if stamp is None:
            continue
        held = indexed_days(index.get(path), stamp)
        if held is None:
            days.add(datetime.fromtimestamp(stamp[1] / 1e9, UTC).date().isoformat())
            pending.append(path)
        else:
            days |= held
    files = {path: list(stamp) for path, stamp in stamps.items() if stamp}
    return sorted(days), SensorCursor(files, pending)


def _unique(paths: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(paths))
