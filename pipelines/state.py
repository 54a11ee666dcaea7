"""Run state: what the assets of a day and successive runs must agree on, owned by one module.

- the fetch queue of a day (the logged request IDs without a final outcome when the queue was taken);
- the search cursor of a day (where a resumed search continues);
- the days each application-log file holds (`pipelines.log_days`), so a day's run reads only its files;
- the inputs of each day's last clean run (`pipelines.day_inputs`), so `fpwh run` skips a day with nothing to do;
- the folders of inter-process locks and of the per-key rate-limit bucket.

Everything lives under `<warehouse>/state/` and `<warehouse>/.locks/`; callers never build these paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipelines.storage.atomic import write_atomically
from pipelines.storage.locks import exclusive_lock

_QUEUE_SCHEMA = {"request_id": pl.String}


class StateStore:
    """The run state of the warehouse rooted at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.state_dir = self.root / "state"
        self.locks_dir = self.root / ".locks"

    @property
    def rate_limit_dir(self) -> Path:
        """Where the per-key token buckets live (shared by every process using this warehouse)."""
        return self.locks_dir / "ratelimit"

    def lock_path(self, name: str) -> Path:
        return self.locks_dir / f"{name}.lock"

    # --- fetch queue ----------------------------------------------------------------------------------------
    def _queue_path(self, day: date) -> Path:
        return self.state_dir / "fetch_queue" / f"day={day.isoformat()}" / "data.parquet"

    def fetch_queue(self, day: date) -> list[str]:
        """The day's queued request IDs, in logged order (empty when none was taken yet)."""
        path = self._queue_path(day)
        return pl.read_parquet(path)["request_id"].to_list() if path.is_file() else []

    def set_fetch_queue(self, day: date, request_ids: list[str]) -> None:
        frame = pl.DataFrame({"request_id": request_ids}, schema=_QUEUE_SCHEMA)
        write_atomically(self._queue_path(day), lambda fh: frame.write_parquet(fh))

    # --- search cursor --------------------------------------------------------------------------------------
    def _cursor_path(self, day: date) -> Path:
        return self.state_dir / "search_cursor" / f"day={day.isoformat()}.json"

    def search_cursor(self, day: date) -> dict[str, Any] | None:
        """The saved cursor of the day's search, or None (absent or unreadable: start over)."""
        try:
            saved = orjson.loads(self._cursor_path(day).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return saved if isinstance(saved, dict) else None

    def save_search_cursor(self, day: date, cursor: dict[str, Any]) -> None:
        body = orjson.dumps(cursor, option=orjson.OPT_INDENT_2)
        write_atomically(self._cursor_path(day), lambda fh: fh.write(body))

    # --- days per log file ----------------------------------------------------------------------------------
    @property
    def _log_index_path(self) -> Path:
        return self.state_dir / "log_files.json"

    def log_file_days(self) -> dict[str, dict[str, Any]]:
        """Per log path, what `save_log_file_days` last stored for it (empty when absent or unreadable)."""
        try:
            saved = orjson.loads(self._log_index_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def save_log_file_days(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge `entries` into the stored index, dropping paths that no longer exist.

        Runs of several days may finish at once: the merge happens under a lock, so no run's entries are lost.
        """
        with exclusive_lock(self.lock_path("log_files"), timeout_s=60.0, purpose="update the log-file index"):
            merged = {path: entry for path, entry in self.log_file_days().items() if os.path.exists(path)}
            merged.update(entries)
            body = orjson.dumps(merged, option=orjson.OPT_SORT_KEYS)
            write_atomically(self._log_index_path, lambda fh: fh.write(body))

    # --- the last clean run of a day ------------------------------------------------------------------------
    def _day_run_path(self, day: date) -> Path:
        return self.state_dir / "day_runs" / f"day={day.isoformat()}.json"

    def day_run(self, day: date) -> dict[str, Any] | None:
        """What `save_day_run` stored for the day (its inputs' fingerprint, run ID, ...), or None."""
        try:
            saved = orjson.loads(self._day_run_path(day).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return saved if isinstance(saved, dict) else None

    def save_day_run(self, day: date, record: Mapping[str, Any]) -> None:
        body = orjson.dumps(dict(record), option=orjson.OPT_INDENT_2)
        write_atomically(self._day_run_path(day), lambda fh: fh.write(body))
