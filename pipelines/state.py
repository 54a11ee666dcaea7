"""Run state: what the assets of a day and successive runs must agree on, owned by one module.

- the fetch queue of a day (the logged request IDs without a final outcome when the queue was taken);
- the search cursor of a day (where a resumed search continues);
- the folders of inter-process locks and of the per-key rate-limit bucket;
- the webhook inbox: the write-ahead segments of acknowledged webhooks not yet moved into bronze.

Everything lives under `<warehouse>/state/` and `<warehouse>/.locks/`; callers never build these paths.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipelines.storage.atomic import write_atomically

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

    @property
    def webhook_inbox_dir(self) -> Path:
        """Where the webhook receiver's write-ahead segments live until they are landed in bronze."""
        return self.state_dir / "webhook_inbox"

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
