"""Bronze: every fetch outcome with its raw response body, append-only, by day; the replay source.

Each fetch batch lands as one new Parquet file `bronze/fetches/day=YYYY-MM-DD/part-<utc-ts>-<uuid>.parquet` below
the warehouse location (a local folder or an object store, `pipelines.storage.files`), written whole, so a killed
run loses at most the batch in flight and no reader ever sees half a file. Nothing is updated in place: a re-fetch
appends a new record and readers pick the winner.

Which record wins for a request ID (`outcomes`): `ok` beats `not_found` beats `failed`, and within the same
outcome the latest `fetched_at` wins. So `ok` and `not_found` are final (a later `failed` retry never hides
an earlier success), while a later `ok` does replace an earlier `not_found` (the event became visible).

`compact` merges a day's small parts (the batches of a fetch) a bounded group at a time (COMPACT_GROUP_BYTES),
leaving files already large alone and deleting each group's parts before writing the next, so compacting never
needs a second copy of the whole day. The merged file is written before the parts are deleted, so
a reader may briefly see both; every reader therefore drops duplicate records, identified by
(request_id, fetched_at, outcome).

Versions: a refresh appends a new `ok` record when an event changed upstream (linked ID, tag, suspect), so the
latest `ok` is the current event (`ok_bodies`) and every `ok` record is one version of it (`ok_versions`).

Corrupt parts (a footer that does not parse: a disk fault, a copy cut short) are found when the day is opened,
moved to `corrupt/` and reported through `on_corrupt` (`pipelines.storage.integrity`); the day reads on without
them, so the request IDs they held are open again and the next fetch of the day asks for them.

Retention: `drop_bodies` rewrites a day with every raw body removed (FPWH_RAW_RETENTION_DAYS) and keeps the
records, so the day is never fetched again and `fetches` still shows it; the readers of bodies then raise
`RawBodiesDropped` rather than yield nothing, so nobody rebuilds a day's tables empty.

Erasure: `erase` rewrites the files of a day that hold records of given request IDs without them (a visitor's
events, `pipelines.erasure`); `request_ids_holding` finds those IDs from the bodies themselves.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.api.results import FetchResult
from pipelines.storage.files import FileStore, StoredFile
from pipelines.storage.integrity import BRONZE, CorruptFile, is_corruption, set_aside

# One declaration per column: its type and its data-dictionary description.
_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "request_id": (pl.String(), "Fingerprint request ID that was fetched."),
    "outcome": (pl.String(), "`ok` (event returned), `not_found` (API says it does not exist) or `failed`."),
    "http_status": (pl.Int32(), "HTTP status of the last attempt; null when no response came back."),
    "error_code": (pl.String(), "API error code (e.g. `RequestNotFound`) or ours (`timeout`, ...)."),
    "error_message": (pl.String(), "Human-readable error of the last attempt; null for `ok`."),
    "attempts": (pl.Int32(), "HTTP attempts made for this outcome, retries included."),
    "latency_ms": (pl.Float64(), "Wall time spent on this request ID across all attempts, in ms."),
    "fetched_at": (pl.Datetime("us", "UTC"), "When the outcome was decided (UTC)."),
    "api_version": (pl.Int8(), "Server API version that answered (3 or 4)."),
    "method": (
        pl.String(),
        "How the event arrived: `by_id` (GET /events/<id>), `search` (events search), `webhook` (pushed to the "
        "receiver) or `sealed` (a sealed client result in the application log); the last two cost no API call.",
    ),
    "body": (pl.Binary(), "Verbatim response bytes for `ok` (replayable into silver); null otherwise."),
}
BRONZE_SCHEMA = pl.Schema({name: dtype for name, (dtype, _) in _COLUMNS.items()})
BRONZE_DESCRIPTIONS: dict[str, str] = {name: text for name, (_, text) in _COLUMNS.items()}

OUTCOME_PRECEDENCE = {"ok": 0, "not_found": 1, "failed": 2}
FINAL_OUTCOMES = ("ok", "not_found")
RECORD_KEY = ["request_id", "fetched_at", "outcome"]
META_COLUMNS = [name for name in BRONZE_SCHEMA if name != "body"]
BODY_COLUMNS = ["request_id", "fetched_at", "api_version", "method", "body"]

_ARROW_SCHEMA = pl.DataFrame(schema=BRONZE_SCHEMA).to_arrow().schema
# Bodies are unique JSON blobs: dictionaries and min/max statistics on them only bloat the file.
_WRITE_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": META_COLUMNS,
    "write_statistics": META_COLUMNS,
}
_SNAPSHOT_ATTEMPTS = 5
# Parts below this size are the batches of a fetch; compaction merges those only, never a file already merged.
COMPACT_BELOW_BYTES = 32 << 20
# Compaction merges at most this much at a time: the free space it needs, whatever the day's size.
COMPACT_GROUP_BYTES = 2 * COMPACT_BELOW_BYTES


class BronzeBusyError(RuntimeError):
    """The day's file set kept changing while we tried to read a consistent snapshot of it."""


class RawBodiesDropped(RuntimeError):
    """The raw bodies of a day were dropped (FPWH_RAW_RETENTION_DAYS): its tables cannot be built from bronze."""

    def __init__(self, day: date, missing: int) -> None:
        super().__init__(
            f"the raw response bodies of {day} were dropped by FPWH_RAW_RETENTION_DAYS ({missing} events): its "
            "tables cannot be rebuilt from bronze; the published ones stay as they are"
        )
        self.day = day
        self.missing = missing


class Bronze:
    """The bronze store: `bronze/fetches/` below a warehouse's files."""

    def __init__(self, files: FileStore, on_corrupt: Callable[[CorruptFile], None] | None = None) -> None:
        self.files, self.on_corrupt = files, on_corrupt

    @staticmethod
    def day_dir(day: date) -> str:
        return f"bronze/fetches/day={day.isoformat()}"

    def append(self, day: date, results: Sequence[FetchResult]) -> str | None:
        """Land `results` as one new part file of `day`; return its path (None when there is nothing to land)."""
        if not results:
            return None
        table = _to_frame(results).to_arrow().cast(_ARROW_SCHEMA)
        return self.files.write_parquet(f"{self.day_dir(day)}/{_part_name()}", table, **_WRITE_OPTIONS)

    def days(self) -> list[date]:
        """Days holding at least one part file, oldest first."""
        found = [d for d in self.files.list_dirs("bronze/fetches") if d.startswith("day=")]
        return sorted(
            date.fromisoformat(d.removeprefix("day=")) for d in found if self._parts(date.fromisoformat(d[4:]))
        )

    def parts(self, day: date) -> list[StoredFile]:
        """The day's part files, oldest name first."""
        return self._parts(day)

    def all_fetches(self, day: date) -> pl.DataFrame:
        """Every attempt record of `day` (without bodies), oldest first: the `fetches` table."""
        with self._snapshot(day) as files:
            return _records(files.values())

    def outcomes(self, day: date) -> pl.DataFrame:
        """One row per request ID of `day`: its winning record (see the module docstring), no body."""
        rank = pl.col("outcome").replace_strict(OUTCOME_PRECEDENCE, return_dtype=pl.Int8)
        return (
            self.all_fetches(day)
            .sort(rank, pl.col("fetched_at"), descending=[False, True])
            .unique("request_id", keep="first", maintain_order=True)
            .sort("request_id")
        )

    def done_ids(self, day: date) -> set[str]:
        """Request IDs of `day` with a final outcome (`ok`/`not_found`): never fetch these again."""
        done = self.all_fetches(day).filter(pl.col("outcome").is_in(FINAL_OUTCOMES))
        return set(done["request_id"].to_list())

    def ok_bodies(self, day: date, batch_rows: int = 20_000) -> Iterator[pl.DataFrame]:
        """Stream the final `ok` record of each request ID of `day` (BODY_COLUMNS), `batch_rows` at most.

        Memory holds one batch of bodies plus the day's (request_id, fetched_at) keys, whatever the day's
        volume of bodies. Raises RawBodiesDropped (after the bodies still there) when bodies were dropped.
        """
        with self._snapshot(day) as files:
            ok = _records(files.values()).filter(pl.col("outcome") == "ok")
            latest = ok.group_by("request_id").agg(pl.col("fetched_at").max())
            yield from _stream_bodies(day, files.values(), latest, batch_rows)

    def ok_versions(self, day: date, batch_rows: int = 20_000) -> Iterator[pl.DataFrame]:
        """Stream every `ok` record of `day` (BODY_COLUMNS): each version received of each event, in no order.

        Raises RawBodiesDropped (after the bodies still there) when bodies were dropped.
        """
        with self._snapshot(day) as files:
            ok = _records(files.values()).filter(pl.col("outcome") == "ok")
            yield from _stream_bodies(day, files.values(), ok.select("request_id", "fetched_at"), batch_rows)

    def drop_bodies(self, day: date, batch_rows: int = 20_000) -> int:
        """Rewrite `day` as one file whose records keep everything but the raw body; return the bodies dropped.

        Crash-safe like `compact`: the new file is complete before the old parts go, and readers ignore the
        duplicates meanwhile. A day without bodies is left as it is.
        """
        folder = self.day_dir(day)
        with self._snapshot(day) as files:
            bodies = sum(_body_count(f) for f in files.values())
            if not bodies:
                return 0

            def write(stream) -> None:
                with pq.ParquetWriter(stream, _ARROW_SCHEMA, **_WRITE_OPTIONS) as writer:
                    _copy_distinct(files.values(), writer, batch_rows, keep_bodies=False)

            self.files.write(f"{folder}/{_part_name()}", write)
        for name in files:
            self.files.delete(self.files.path(f"{folder}/{name}"))
        return bodies

    def request_ids_holding(self, day: date, values: Iterable[str], batch_rows: int = 20_000) -> set[str]:
        """Request IDs of `day` whose raw body holds one of `values` as a JSON string (`"<value>"`), any field.

        The erasure's search for a visitor's events: it reads the bodies themselves, so it finds events that no
        table holds (quarantined bodies, days whose tables were never built) and every field naming the visitor.
        """
        quoted = [orjson.dumps(v) for v in dict.fromkeys(values)]
        if not quoted:
            return set()
        found: set[str] = set()
        with self._snapshot(day) as files:
            for file in files.values():
                for batch in file.iter_batches(batch_size=batch_rows, columns=["request_id", "body"]):
                    rows = pl.from_arrow(batch).filter(pl.col("body").is_not_null())
                    hit = pl.any_horizontal([pl.col("body").bin.contains(q) for q in quoted])
                    found.update(rows.filter(hit)["request_id"].to_list())  # type: ignore[union-attr]
        return found

    def erase(self, day: date, request_ids: Iterable[str], batch_rows: int = 20_000) -> int:
        """Rewrite the files of `day` holding any record of `request_ids` without those records; return the
        distinct records removed (bodies and outcomes alike).

        Crash-safe like `drop_bodies`: the new file is complete before the old ones go (readers ignore the
        duplicates meanwhile), and a crash before the deletes leaves the old files for a re-run to find again.
        """
        ids = pl.Series("request_id", list(dict.fromkeys(request_ids)), dtype=pl.String)
        folder = self.day_dir(day)
        with self._snapshot(day) as files:
            holding = {name: f for name, f in files.items() if _holds(f, ids)}
            if not holding:
                return 0
            records = _records(holding.values())
            removed = records.filter(pl.col("request_id").is_in(ids.implode())).height
            if records.height > removed:

                def write(stream) -> None:
                    with pq.ParquetWriter(stream, _ARROW_SCHEMA, **_WRITE_OPTIONS) as writer:
                        _copy_distinct(holding.values(), writer, batch_rows, drop_ids=ids)

                self.files.write(f"{folder}/{_part_name()}", write)
        for name in holding:
            self.files.delete(self.files.path(f"{folder}/{name}"))
        return removed

    def compact(self, day: date, batch_rows: int = 20_000, group_bytes: int = COMPACT_GROUP_BYTES) -> list[str]:
        """Merge `day`'s small part files, a group of at most `group_bytes` at a time; return the merged files.

        Only parts under COMPACT_BELOW_BYTES are merged, and each group's parts are deleted before the next group
        is written, so compacting needs free space for one group (`group_bytes`), never a second copy of the day.
        """
        merged = []
        for group in _groups([p for p in self._parts(day) if p.size < COMPACT_BELOW_BYTES], group_bytes):
            path = self._merge(day, group, batch_rows)
            if path is not None:
                merged.append(path)
        return merged

    def _merge(self, day: date, parts: list[StoredFile], batch_rows: int) -> str | None:
        """One file with every distinct record of `parts`, written before they are deleted (crash-safe)."""
        with contextlib.ExitStack() as handles:
            files = list(self._open_parts(day, parts, handles).values())
            if len(files) <= 1:
                return None

            def write(stream) -> None:
                with pq.ParquetWriter(stream, _ARROW_SCHEMA, **_WRITE_OPTIONS) as writer:
                    _copy_distinct(files, writer, batch_rows)

            path = self.files.write(f"{self.day_dir(day)}/{_part_name()}", write)
        for part in parts:
            self.files.delete(part.path)
        return path

    def _parts(self, day: date) -> list[StoredFile]:
        return [
            f for f in self.files.list(self.day_dir(day)) if f.name.startswith("part-") and f.name.endswith(".parquet")
        ]

    def _open_parts(self, day: date, parts: list[StoredFile], stack: contextlib.ExitStack) -> dict[str, pq.ParquetFile]:
        """Open `parts`; a corrupt one (its footer does not parse) is set aside and reported, the others opened."""
        opened = {}
        for part in parts:
            try:
                opened[part.name] = stack.enter_context(self.files.open_parquet(part.path))
            except (pa.ArrowException, OSError) as error:
                if not is_corruption(error):
                    raise
                found = set_aside(self.files, part.path, BRONZE, day, str(error).splitlines()[0])
                if self.on_corrupt is not None:
                    self.on_corrupt(found)
        return opened

    @contextlib.contextmanager
    def _snapshot(self, day: date) -> Iterator[dict[str, pq.ParquetFile]]:
        """Open every part file of `day` as one consistent set (name -> file), held open while in use.

        Listing, opening and listing again: if a file appeared meanwhile (a compaction's merged file may
        replace parts we missed) or vanished before we opened it, we start over.
        """
        for _ in range(_SNAPSHOT_ATTEMPTS):
            with contextlib.ExitStack() as stack:
                parts = self._parts(day)
                try:
                    opened = self._open_parts(day, parts, stack)
                except FileNotFoundError:
                    continue
                if {p.name for p in self._parts(day)} <= set(opened):
                    yield opened
                    return
        raise BronzeBusyError(f"bronze files of {day} kept changing while reading {self.day_dir(day)}; retry the read")


def _groups(parts: list[StoredFile], group_bytes: int) -> list[list[StoredFile]]:
    """`parts` in order, cut into runs of at most `group_bytes` (a part larger than that is a run of its own)."""
    groups: list[list[StoredFile]] = [[]]
    size = 0
    for part in parts:
        if groups[-1] and size + part.size > group_bytes:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += part.size
    return [g for g in groups if len(g) > 1]


def _to_frame(results: Sequence[FetchResult]) -> pl.DataFrame:
    naive = [r.request_id for r in results if r.fetched_at.tzinfo is None]
    if naive:
        raise ValueError(f"fetched_at must be timezone-aware (UTC); naive for request IDs {naive[:5]}")
    columns = {name: [getattr(r, name) for r in results] for name in BRONZE_SCHEMA}
    return pl.DataFrame(columns, schema=BRONZE_SCHEMA)


def _records(files: Iterable[pq.ParquetFile]) -> pl.DataFrame:
    """Every distinct record of `files` without bodies, oldest first."""
    frames = [pl.from_arrow(f.read(columns=META_COLUMNS)) for f in files]
    records = pl.concat(frames) if frames else pl.DataFrame(schema=_meta_schema())
    return records.unique(RECORD_KEY, keep="first").sort("fetched_at", "request_id")


def _stream_bodies(
    day: date, files: Iterable[pq.ParquetFile], wanted: pl.DataFrame, batch_rows: int = 20_000
) -> Iterator[pl.DataFrame]:
    """The `ok` rows of `files` whose (request_id, fetched_at) is `wanted`, once each, with their bodies."""
    pending = wanted.unique()
    for file in files:
        for batch in file.iter_batches(batch_size=batch_rows, columns=[*BODY_COLUMNS, "outcome"]):
            rows = (
                pl.from_arrow(batch)
                .filter((pl.col("outcome") == "ok") & pl.col("body").is_not_null())
                .join(pending, on=["request_id", "fetched_at"], how="semi")
                .unique(["request_id", "fetched_at"], keep="first", maintain_order=True)
                .select(BODY_COLUMNS)
            )
            if rows.height:
                pending = pending.join(rows, on=["request_id", "fetched_at"], how="anti")
                yield rows
    if pending.height:
        raise RawBodiesDropped(day, pending.height)


def _body_count(file: pq.ParquetFile) -> int:
    """Records of `file` that still carry a body (reading an all-null column costs next to nothing)."""
    return sum(pl.from_arrow(b)["body"].is_not_null().sum() for b in file.iter_batches(columns=["body"]))


def _holds(file: pq.ParquetFile, ids: pl.Series) -> bool:
    """Whether `file` has a record of one of `ids`."""
    column = pl.from_arrow(file.read(columns=["request_id"]))["request_id"]  # type: ignore[index]
    return bool(column.is_in(ids.implode()).any())


def _copy_distinct(
    files: Iterable[pq.ParquetFile],
    writer: pq.ParquetWriter,
    batch_rows: int,
    keep_bodies: bool = True,
    drop_ids: pl.Series | None = None,
) -> None:
    seen = pl.DataFrame(schema={k: BRONZE_SCHEMA[k] for k in RECORD_KEY})
    for file in files:
        for batch in file.iter_batches(batch_size=batch_rows):
            rows = pl.from_arrow(batch).unique(RECORD_KEY, keep="first", maintain_order=True)
            if drop_ids is not None:
                rows = rows.filter(~pl.col("request_id").is_in(drop_ids.implode()))
            rows = rows.join(seen, on=RECORD_KEY, how="anti")
            if not keep_bodies:
                rows = rows.with_columns(pl.lit(None, dtype=pl.Binary()).alias("body"))
            writer.write_table(rows.to_arrow().cast(_ARROW_SCHEMA), row_group_size=batch_rows)
            seen = pl.concat([seen, rows.select(RECORD_KEY)])


def _part_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"part-{stamp}-{uuid.uuid4().hex}.parquet"


def _meta_schema() -> pl.Schema:
    return pl.Schema({name: BRONZE_SCHEMA[name] for name in META_COLUMNS})
