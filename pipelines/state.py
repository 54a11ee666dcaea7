"""Run state: what the assets of a day and successive runs must agree on, owned by one module.

- the fetch queue of a day (the logged request IDs without a final outcome when the queue was taken);
- the search cursor of a day (where a resumed search continues);
- when each day's events were last re-read by the nightly refresh (so a re-run refreshes nothing twice);
- the events found deleted upstream (404 on refresh inside retention), for the deletion code to erase;
- the folders of inter-process locks and of the per-key rate-limit bucket.

Everything lives under `<warehouse>/state/` and `<warehouse>/.locks/`; callers never build these paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipelines.storage.atomic import write_atomically

_QUEUE_SCHEMA = {"request_id": pl.String}
DELETED_SCHEMA = pl.Schema({"request_id": pl.String(), "day": pl.Date(), "detected_at": pl.Datetime("us", "UTC")})


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

    # --- refresh --------------------------------------------------------------------------------------------
    def _refreshed_path(self) -> Path:
        return self.state_dir / "refresh" / "refreshed_at.json"

    def refreshed_at(self) -> dict[date, datetime]:
        """When each day's events were last re-read completely by a refresh (absent: never)."""
        try:
            saved = orjson.loads(self._refreshed_path().read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return {date.fromisoformat(day): datetime.fromisoformat(at) for day, at in saved.items()}

    def mark_refreshed(self, days: Iterable[date], at: datetime) -> None:
        """Record that `days` were re-read at `at` (callers serialise refreshes with `lock_path("refresh")`)."""
        saved = {day.isoformat(): when.isoformat() for day, when in self.refreshed_at().items()}
        saved |= {day.isoformat(): at.isoformat() for day in days}
        body = orjson.dumps(dict(sorted(saved.items())), option=orjson.OPT_INDENT_2)
        write_atomically(self._refreshed_path(), lambda fh: fh.write(body))

    # --- events deleted upstream ----------------------------------------------------------------------------
    def _deleted_path(self, day: date) -> Path:
        return self.state_dir / "deleted_events" / f"day={day.isoformat()}.parquet"

    def record_deleted(self, day: date, request_ids: Iterable[str], detected_at: datetime) -> None:
        """Note events of `day` that the API no longer has although inside retention (deleted upstream)."""
        new = pl.DataFrame(
            {"request_id": list(request_ids), "day": day, "detected_at": detected_at}, schema=DELETED_SCHEMA
        )
        if not new.height:
            return
        path = self._deleted_path(day)
        known = pl.read_parquet(path) if path.is_file() else pl.DataFrame(schema=DELETED_SCHEMA)
        merged = pl.concat([known, new]).unique("request_id", keep="first", maintain_order=True)
        write_atomically(path, lambda fh: merged.write_parquet(fh))

    def deleted_events(self) -> pl.DataFrame:
        """Every event found deleted upstream (request_id, day, detected_at), for the erasure to act on."""
        folder = self.state_dir / "deleted_events"
        files = sorted(folder.glob("day=*.parquet")) if folder.is_dir() else []
        return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame(schema=DELETED_SCHEMA)
