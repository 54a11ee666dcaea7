"""Run state: what the assets of a day, successive runs and several machines must agree on, owned by one module.

It lives in the catalog database (`pipelines.storage.database`), never on a local disk, so runs on different
machines see the same state:
- the fetch queue of a day (the logged request IDs without a final outcome when the queue was taken);
- the search cursor of a day (where a resumed search continues);
- the days each application-log file holds (`pipelines.log_days`), so a day's run reads only its files;
- the inputs of each day's last clean run (`pipelines.day_inputs`), so `fpwh run` skips a day with nothing to do;
- when each day's events were last re-read by the nightly refresh (so a re-run refreshes nothing twice);
- the events found deleted upstream (404 on refresh inside retention), for the erasure to act on;
- the audit of erasures (`fpwh_erasures`: visitor IDs as SHA-256 digests, counts, days, time; never the data);
- leases (a run that holds a day's fetch, so a second run of the same day never spends the budget twice);
- the tables the lake publishes through (`fpwh_staged`, `fpwh_published`, see `pipelines.storage.publication`).
Local-only things live under `local_dir` (`<warehouse>/.locks` for a local warehouse, the system temp folder for a
remote one): inter-process file locks, a single machine's file token bucket, and the webhook receiver's inbox (the
write-ahead segments of acknowledged webhooks not yet moved into bronze; it survives a crash of the receiver).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa

from pipelines.storage.database import created_once

METADATA = sa.MetaData()
FETCH_QUEUE = sa.Table(
    "fpwh_fetch_queue",
    METADATA,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("request_ids", sa.Text, nullable=False),  # JSON array, logged order
)
SEARCH_CURSOR = sa.Table(
    "fpwh_search_cursor",
    METADATA,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),  # JSON object
)
LEASES = sa.Table(
    "fpwh_leases",
    METADATA,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # epoch seconds
)
STAGED = sa.Table(
    "fpwh_staged",
    METADATA,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("table_name", sa.String(100), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("staged_at", sa.Float, nullable=False),
)
PUBLISHED = sa.Table(
    "fpwh_published",
    METADATA,
    sa.Column("table_name", sa.String(100), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("published_at", sa.Float, nullable=False),
)
# Files a publish replaced: kept a while for connections still reading them, then deleted (`Warehouse.collect`).
SUPERSEDED = sa.Table(
    "fpwh_superseded",
    METADATA,
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("table_name", sa.String(100), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("superseded_at", sa.Float, nullable=False),
)
PUBLICATIONS = sa.Table(
    "fpwh_publications",
    METADATA,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("tables", sa.Text, nullable=False),  # JSON array of the tables this publication replaced
    sa.Column("published_at", sa.Float, nullable=False),
)
LOG_FILES = sa.Table(
    "fpwh_log_files",
    METADATA,
    sa.Column("path", sa.String(2000), primary_key=True),
    sa.Column("entry", sa.Text, nullable=False),  # JSON: size, mtime and the days the file holds
)
DAY_RUNS = sa.Table(
    "fpwh_day_runs",
    METADATA,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),  # JSON: the inputs' fingerprint, run ID, ...
)
_CREATED: set[int] = set()
_CREATE_LOCK = threading.Lock()

REFRESHED = sa.Table(
    "fpwh_refreshed",
    METADATA,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("refreshed_at", sa.Float, nullable=False),  # epoch seconds
)
DELETED = sa.Table(
    "fpwh_deleted_events",
    METADATA,
    sa.Column("request_id", sa.String(100), primary_key=True),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("detected_at", sa.Float, nullable=False),
)
# Days whose stored files were found corrupt and set aside (`pipelines.storage.integrity`): rebuild them.
REBUILD = sa.Table(
    "fpwh_rebuild",
    METADATA,
    sa.Column("path", sa.String(1000), primary_key=True),  # the corrupt file, as it was named
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("table_name", sa.String(100), nullable=False),  # a lake table, or `bronze`
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detected_at", sa.Float, nullable=False),
)
# The audit of erasures (`pipelines.erasure`): what was erased, when and why, never the data. Visitor IDs are kept
# as SHA-256 digests, so that "was this visitor erased?" has an answer while the ID itself leaves no trace.
ERASURES = sa.Table(
    "fpwh_erasures",
    METADATA,
    sa.Column("erasure_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("erased_at", sa.Float, nullable=False),  # epoch seconds
    sa.Column("reason", sa.String(40), nullable=False),  # forget_visitor | deleted_upstream
    sa.Column("visitor_sha256", sa.Text, nullable=False),  # JSON array of hex digests of the visitor IDs
    sa.Column("request_ids", sa.Integer, nullable=False),  # how many events were erased
    sa.Column("days", sa.Text, nullable=False),  # JSON array of the days rewritten
    sa.Column("rows", sa.Text, nullable=False),  # JSON object: table (or bronze, state) -> rows removed
    sa.Column("api_called", sa.Boolean, nullable=False),
    sa.Column("api_outcomes", sa.Text, nullable=False),  # JSON object: outcome of DELETE /visitors -> count
    sa.Column("status", sa.String(20), nullable=False),  # started (days being rewritten) | done
)
ERASURES_SCHEMA = pl.Schema(
    {
        "erasure_id": pl.Int64(),
        "erased_at": pl.Datetime("us", "UTC"),
        "reason": pl.String(),
        "visitor_sha256": pl.List(pl.String()),
        "request_ids": pl.Int64(),
        "days": pl.List(pl.Date()),
        "rows": pl.String(),
        "api_called": pl.Boolean(),
        "api_outcomes": pl.String(),
        "status": pl.String(),
    }
)
# Events erased (`pipelines.erasure`), as SHA-256 digests of their request IDs: the application logs still name them,
# and a later run of their day must neither fetch them again nor keep their log lines, yet the IDs leave no trace.
ERASED_EVENTS = sa.Table(
    "fpwh_erased_events",
    METADATA,
    sa.Column("request_id_sha256", sa.String(64), primary_key=True),
    sa.Column("erased_at", sa.Float, nullable=False),
)
DELETED_SCHEMA = pl.Schema({"request_id": pl.String(), "day": pl.Date(), "detected_at": pl.Datetime("us", "UTC")})


def ensure_schema(engine: sa.Engine) -> None:
    """Create the state tables once per engine (idempotent, safe across processes)."""
    with _CREATE_LOCK:
        if id(engine) not in _CREATED:
            created_once(lambda: METADATA.create_all(engine, checkfirst=True))
            _CREATED.add(id(engine))


class StateStore:
    """The run state of one warehouse: rows in the catalog database, plus a folder for local-only locks."""

    def __init__(self, engine: sa.Engine, local_dir: Path) -> None:
        self.engine = engine
        self.local_dir = Path(local_dir)
        ensure_schema(engine)

    @property
    def rate_limit_dir(self) -> Path:
        """Where a single machine's file token buckets live (PostgreSQL deployments share a bucket in the DB)."""
        return self.local_dir / "ratelimit"

    def lock_path(self, name: str) -> Path:
        return self.local_dir / f"{name}.lock"

    @property
    def webhook_inbox_dir(self) -> Path:
        """Where the webhook receiver's write-ahead segments live until they are landed in bronze."""
        return self.local_dir / "webhook_inbox"

    # --- fetch queue ----------------------------------------------------------------------------------------
    def fetch_queue(self, day: date) -> list[str]:
        """The day's queued request IDs, in logged order (empty when none was taken yet)."""
        with self.engine.connect() as con:
            row = con.execute(sa.select(FETCH_QUEUE.c.request_ids).where(FETCH_QUEUE.c.day == day.isoformat()))
            value = row.scalar_one_or_none()
        return orjson.loads(value) if value else []

    def set_fetch_queue(self, day: date, request_ids: list[str]) -> None:
        self._put(FETCH_QUEUE, day, request_ids=orjson.dumps(request_ids).decode())

    # --- search cursor --------------------------------------------------------------------------------------
    def search_cursor(self, day: date) -> dict[str, Any] | None:
        """The saved cursor of the day's search, or None (absent or unreadable: start over)."""
        with self.engine.connect() as con:
            value = con.execute(
                sa.select(SEARCH_CURSOR.c.cursor).where(SEARCH_CURSOR.c.day == day.isoformat())
            ).scalar_one_or_none()
        try:
            saved = orjson.loads(value) if value else None
        except orjson.JSONDecodeError:
            return None
        return saved if isinstance(saved, dict) else None

    def save_search_cursor(self, day: date, cursor: dict[str, Any]) -> None:
        self._put(SEARCH_CURSOR, day, cursor=orjson.dumps(cursor).decode())

    # --- leases ---------------------------------------------------------------------------------------------
    def take_lease(self, name: str, holder: str, ttl_s: float) -> str | None:
        """Take or renew lease `name` for `holder` for `ttl_s` seconds; None on success, else the current holder."""
        for _ in range(5):  # two first takers race to insert the row: the loser reads the winner's on retry
            try:
                return self._take_lease(name, holder, ttl_s)
            except sa.exc.IntegrityError:
                continue
        return self._take_lease(name, holder, ttl_s)

    def _take_lease(self, name: str, holder: str, ttl_s: float) -> str | None:
        now = time.time()
        with self.engine.begin() as con:
            row = con.execute(sa.select(LEASES).where(LEASES.c.name == name).with_for_update()).first()
            if row is not None and row.holder != holder and row.expires_at > now:
                return row.holder
            con.execute(sa.delete(LEASES).where(LEASES.c.name == name))
            con.execute(sa.insert(LEASES).values(name=name, holder=holder, expires_at=now + ttl_s))
        return None

    def release_lease(self, name: str, holder: str) -> None:
        with self.engine.begin() as con:
            con.execute(sa.delete(LEASES).where(LEASES.c.name == name, LEASES.c.holder == holder))

    # --- days per log file ----------------------------------------------------------------------------------
    def log_file_days(self) -> dict[str, dict[str, Any]]:
        """Per log path, what `save_log_file_days` last stored for it."""
        with self.engine.connect() as con:
            return {row.path: orjson.loads(row.entry) for row in con.execute(sa.select(LOG_FILES))}

    def save_log_file_days(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Store `entries` (one row per path, replaced), dropping paths that no longer exist.

        Runs of several days may finish at once: each replaces only its own paths' rows, in one transaction.
        """
        with self.engine.begin() as con:
            gone = [row.path for row in con.execute(sa.select(LOG_FILES.c.path)) if not os.path.exists(row.path)]
            touched = [*gone, *entries]
            if touched:
                con.execute(sa.delete(LOG_FILES).where(LOG_FILES.c.path.in_(touched)))
            rows = [{"path": path, "entry": orjson.dumps(dict(entry)).decode()} for path, entry in entries.items()]
            if rows:
                con.execute(sa.insert(LOG_FILES), rows)

    # --- the last clean run of a day ------------------------------------------------------------------------
    def day_run(self, day: date) -> dict[str, Any] | None:
        """What `save_day_run` stored for the day (its inputs' fingerprint, run ID, ...), or None."""
        with self.engine.connect() as con:
            value = con.execute(sa.select(DAY_RUNS.c.record).where(DAY_RUNS.c.day == day.isoformat())).scalar()
        saved = orjson.loads(value) if value else None
        return saved if isinstance(saved, dict) else None

    def save_day_run(self, day: date, record: Mapping[str, Any]) -> None:
        self._put(DAY_RUNS, day, record=orjson.dumps(dict(record)).decode())

    # --- refresh --------------------------------------------------------------------------------------------
    def refreshed_at(self) -> dict[date, datetime]:
        """When each day's events were last re-read completely by a refresh (absent: never)."""
        with self.engine.connect() as con:
            rows = con.execute(sa.select(REFRESHED)).all()
        return {date.fromisoformat(r.day): datetime.fromtimestamp(r.refreshed_at, UTC) for r in rows}

    def mark_refreshed(self, days: Iterable[date], at: datetime) -> None:
        """Record that `days` were re-read at `at`."""
        for day in days:
            self._put(REFRESHED, day, refreshed_at=at.timestamp())

    # --- events deleted upstream ----------------------------------------------------------------------------
    def record_deleted(self, day: date, request_ids: Iterable[str], detected_at: datetime) -> None:
        """Note events of `day` that the API no longer has although inside retention (deleted upstream)."""
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return
        with self.engine.begin() as con:
            known = {
                r.request_id for r in con.execute(sa.select(DELETED.c.request_id).where(DELETED.c.request_id.in_(ids)))
            }
            rows = [
                {"request_id": rid, "day": day.isoformat(), "detected_at": detected_at.timestamp()}
                for rid in ids
                if rid not in known
            ]
            if rows:
                con.execute(sa.insert(DELETED), rows)

    def deleted_events(self) -> pl.DataFrame:
        """Every event found deleted upstream (request_id, day, detected_at), for the erasure to act on."""
        with self.engine.connect() as con:
            rows = con.execute(sa.select(DELETED).order_by(DELETED.c.day, DELETED.c.request_id)).all()
        data = {
            "request_id": [r.request_id for r in rows],
            "day": [date.fromisoformat(r.day) for r in rows],
            "detected_at": [datetime.fromtimestamp(r.detected_at, UTC) for r in rows],
        }
        return pl.DataFrame(data, schema=DELETED_SCHEMA)

    def forget_deleted(self, request_ids: Iterable[str]) -> None:
        """The erasure of these events is done: stop listing them."""
        ids = list(request_ids)
        if ids:
            with self.engine.begin() as con:
                con.execute(sa.delete(DELETED).where(DELETED.c.request_id.in_(ids)))

    # --- erasure --------------------------------------------------------------------------------------------
    def record_erased(self, request_ids: Iterable[str]) -> None:
        """Remember that `request_ids` were erased (as digests), so that no later run brings them back."""
        digests = {sha256_hex(rid) for rid in request_ids}
        with self.engine.begin() as con:
            for chunk in _chunks(sorted(digests), 500):
                known = set(
                    con.execute(
                        sa.select(ERASED_EVENTS.c.request_id_sha256).where(ERASED_EVENTS.c.request_id_sha256.in_(chunk))
                    ).scalars()
                )
                fresh = [{"request_id_sha256": d, "erased_at": time.time()} for d in chunk if d not in known]
                if fresh:
                    con.execute(sa.insert(ERASED_EVENTS), fresh)

    def erased_among(self, request_ids: Iterable[str]) -> set[str]:
        """The request IDs among `request_ids` that an erasure removed."""
        by_digest = {sha256_hex(rid): rid for rid in request_ids}
        found: set[str] = set()
        with self.engine.connect() as con:
            for chunk in _chunks(sorted(by_digest), 500):
                hits = con.execute(
                    sa.select(ERASED_EVENTS.c.request_id_sha256).where(ERASED_EVENTS.c.request_id_sha256.in_(chunk))
                ).scalars()
                found.update(by_digest[d] for d in hits)
        return found

    def erase_request_ids(self, request_ids: Iterable[str], deleted: bool = True) -> dict[str, int]:
        """Remove `request_ids` from every state row naming them (fetch queues, and with `deleted` the events
        deleted upstream); return the rows changed per state table. The search cursor holds timestamps only, the
        leases run names."""
        ids = set(request_ids)
        changed = {str(FETCH_QUEUE.name): 0, str(DELETED.name): 0}
        if not ids:
            return changed
        with self.engine.begin() as con:
            for row in con.execute(sa.select(FETCH_QUEUE)).all():
                queued = orjson.loads(row.request_ids)
                kept = [rid for rid in queued if rid not in ids]
                if len(kept) != len(queued):
                    values = {"request_ids": orjson.dumps(kept).decode()}
                    con.execute(sa.update(FETCH_QUEUE).where(FETCH_QUEUE.c.day == row.day).values(**values))
                    changed[str(FETCH_QUEUE.name)] += 1
            listed = sorted(ids) if deleted else []
            for start in range(0, len(listed), 500):
                gone = con.execute(sa.delete(DELETED).where(DELETED.c.request_id.in_(listed[start : start + 500])))
                changed[str(DELETED.name)] += gone.rowcount or 0
        return changed

    def begin_erasure(self, record: Mapping[str, Any]) -> int:
        """Append an audit row (`ERASURES`, status `started`; list and dict values as JSON); return its ID.

        Written before the days are rewritten, so that an erasure killed before its clean-up is finished by the
        next one (`unfinished_erasures`): its replaced files and old snapshots would otherwise wait for retention.
        """
        values = {k: orjson.dumps(v).decode() if isinstance(v, list | dict) else v for k, v in record.items()}
        with self.engine.begin() as con:
            result = con.execute(sa.insert(ERASURES).values(**{**values, "status": "started"}))
            return int(result.inserted_primary_key[0])

    def finish_erasure(self, erasure_id: int, record: Mapping[str, Any], finished: Iterable[int] = ()) -> None:
        """Complete audit row `erasure_id` with `record` (status `done`), and mark the `finished` ones done."""
        values = {k: orjson.dumps(v).decode() if isinstance(v, list | dict) else v for k, v in record.items()}
        with self.engine.begin() as con:
            con.execute(sa.update(ERASURES).where(ERASURES.c.erasure_id == erasure_id).values(**values, status="done"))
            ids = list(finished)
            if ids:
                con.execute(sa.update(ERASURES).where(ERASURES.c.erasure_id.in_(ids)).values(status="done"))

    def unfinished_erasures(self) -> dict[int, list[date]]:
        """Erasures that started rewriting days but did not finish (killed): ID -> the days they were rewriting."""
        with self.engine.connect() as con:
            rows = con.execute(sa.select(ERASURES.c.erasure_id, ERASURES.c.days).where(ERASURES.c.status != "done"))
            return {r.erasure_id: [date.fromisoformat(d) for d in orjson.loads(r.days)] for r in rows}

    def erasures(self) -> pl.DataFrame:
        """The audit of every erasure, oldest first (`ERASURES_SCHEMA`)."""
        with self.engine.connect() as con:
            rows = con.execute(sa.select(ERASURES).order_by(ERASURES.c.erasure_id)).all()
        data = [
            {
                "erasure_id": r.erasure_id,
                "erased_at": datetime.fromtimestamp(r.erased_at, UTC),
                "reason": r.reason,
                "visitor_sha256": orjson.loads(r.visitor_sha256),
                "request_ids": r.request_ids,
                "days": [date.fromisoformat(d) for d in orjson.loads(r.days)],
                "rows": r.rows,
                "api_called": r.api_called,
                "api_outcomes": r.api_outcomes,
                "status": r.status,
            }
            for r in rows
        ]
        return pl.DataFrame(data, schema=ERASURES_SCHEMA)

    def _put(self, table: sa.Table, day: date, **values: Any) -> None:
        key = day.isoformat()
        with self.engine.begin() as con:
            con.execute(sa.delete(table).where(table.c.day == key))
            con.execute(sa.insert(table).values(day=key, **values))


def sha256_hex(value: str) -> str:
    """The digest the run state keeps in place of an erased ID (the ID itself must leave no trace)."""
    return hashlib.sha256(value.encode()).hexdigest()


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
