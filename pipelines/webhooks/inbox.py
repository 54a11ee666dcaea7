"""The webhook inbox: a write-ahead log of acknowledged webhooks, moved into bronze by event day.

The receiver answers 2xx only once a webhook's raw body is durable, and a bronze Parquet file per request would
bury bronze in tiny files. So acknowledged webhooks are appended to a segment file of the inbox
(`StateStore.webhook_inbox_dir`), several requests per write + fsync (group commit), and `land_inbox` moves
closed segments into bronze (one part file per event day) every `FPWH_WEBHOOK_LAND_INTERVAL_S`, at the
receiver's start and stop, and before the daily job queues its fetches.

Crash guarantees, where they are made:
- A record is acknowledged only after `os.fsync` of the write that holds it. A kill (or power loss) during a
  write leaves a torn last record that was never acknowledged: every record carries its length and a CRC32,
  and the reader stops at the first one that does not check.
- A segment is live while its writer holds an flock(2) on it; the kernel drops the lock when the writer dies,
  even on kill -9, so the next landing takes the segment over. A writer creates its segment under a hidden name,
  locks it, then renames it: a lander never sees an unlocked segment that is about to be written.
- Landing appends to bronze, then deletes the segment. A crash in between lands the segment again later: records
  whose (day, request ID) bronze already holds with a final outcome are skipped, so each event is stored once,
  also when Fingerprint retries a delivery we had already acknowledged.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import orjson

from pipelines.api.results import FetchResult
from pipelines.storage.atomic import fsync_dir
from pipelines.storage.bronze import Bronze
from pipelines.storage.locks import exclusive_lock

MAGIC = b"FPWH"
_FRAME = struct.Struct("<4sIHI")  # magic, CRC32 of what follows the frame, header length, body length
SEGMENT_GLOB = "seg-*.wal"
INBOX_LOCK = "webhook_inbox"  # the lock (`StateStore.lock_path`) every lander holds
LAND_LOCK_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """One acknowledged webhook: its event's identity, the day it belongs to, when it arrived, the raw body."""

    request_id: str
    api_version: int
    day: date
    received_at: datetime
    body: bytes = field(repr=False)

    def encode(self) -> bytes:
        header = orjson.dumps(
            {"id": self.request_id, "v": self.api_version, "day": self.day.isoformat(), "at": self.received_at}
        )
        payload = header + self.body
        return _FRAME.pack(MAGIC, zlib.crc32(payload), len(header), len(self.body)) + payload

    def as_result(self) -> FetchResult:
        """The bronze record: an `ok` outcome that cost no API call."""
        return FetchResult(
            self.request_id, "ok", None, None, None, 0, 0.0, self.received_at, self.api_version, "webhook", self.body
        )


def decode_segment(data: bytes) -> tuple[list[InboxRecord], int]:
    """The records of a segment's bytes, and how many bytes of a torn (never acknowledged) tail were ignored."""
    records: list[InboxRecord] = []
    at = 0
    while at + _FRAME.size <= len(data):
        magic, crc, header_len, body_len = _FRAME.unpack_from(data, at)
        end = at + _FRAME.size + header_len + body_len
        payload = data[at + _FRAME.size : end]
        if magic != MAGIC or end > len(data) or zlib.crc32(payload) != crc:
            break
        header = orjson.loads(payload[:header_len])
        received = datetime.fromisoformat(header["at"])
        day = date.fromisoformat(header["day"])
        records.append(InboxRecord(header["id"], header["v"], day, received, payload[header_len:]))
        at = end
    return records, len(data) - at


class SegmentWriter:
    """Appends encoded records to this process's live segment of `folder`, durably; `rotate` closes it."""

    def __init__(self, folder: Path, max_segment_bytes: int = 64 << 20) -> None:
        self.folder = Path(folder)
        self.max_segment_bytes = max_segment_bytes
        self._fd: int | None = None
        self.path: Path | None = None
        self.size = 0

    def append(self, records: Sequence[bytes]) -> None:
        """Write `records` in one write and fsync it: when this returns, they survive a crash."""
        if self._fd is None:
            self._open()
        data = b"".join(records)
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(self._fd)
        except OSError:
            self.rotate()  # never append after a write that may have been torn: start a new segment
            raise
        self.size += len(data)
        if self.size >= self.max_segment_bytes:
            self.rotate()

    def rotate(self) -> bool:
        """Close the live segment (it becomes landable); False when there was none."""
        if self._fd is None:
            return False
        fd, self._fd, self.path, self.size = self._fd, None, None, 0
        os.close(fd)  # drops the flock
        return True

    close = rotate

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"seg-{stamp}-{uuid.uuid4().hex}.wal"
        hidden = self.folder / f".{name}.opening"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(hidden, self.folder / name)
        fsync_dir(self.folder)
        self._fd, self.path, self.size = fd, self.folder / name, 0


class KnownIds:
    """Request IDs bronze holds with a final outcome, per day, read once per day and kept up to date by landing."""

    def __init__(self, bronze: Bronze) -> None:
        self.bronze = bronze
        self._days: dict[date, set[str]] = {}

    def of(self, day: date) -> set[str]:
        if day not in self._days:
            self._days[day] = self.bronze.done_ids(day)
        return self._days[day]

    def forget_before(self, day: date) -> None:
        """Drop the days before `day` (a long-running receiver keeps only recent days in memory)."""
        for old in [d for d in self._days if d < day]:
            del self._days[old]


@dataclass
class LandReport:
    """What one landing moved: segments, events stored, duplicates skipped, torn bytes, live segments left."""

    segments: int = 0
    events: int = 0
    duplicates: int = 0
    torn_bytes: int = 0
    live_segments: int = 0
    days: dict[str, int] = field(default_factory=dict)


def land_inbox(
    folder: Path, bronze: Bronze, lock_path: Path, known: KnownIds | None = None, log: Callable[[str], None] = print
) -> LandReport:
    """Move every closed segment of `folder` into bronze, each event once; live segments are left alone."""
    report = LandReport()
    if not folder.is_dir():
        return report
    known = known if known is not None else KnownIds(bronze)
    with exclusive_lock(lock_path, LAND_LOCK_TIMEOUT_S, "land the webhook inbox into bronze"):
        for segment in sorted(folder.glob(SEGMENT_GLOB)):
            with _taken_over(segment) as data:
                if data is None:
                    report.live_segments += 1
                    continue
                _land_segment(data, bronze, known, report)
                segment.unlink()
                fsync_dir(folder)
                report.segments += 1
    if report.torn_bytes:
        log(f"webhook inbox: ignored {report.torn_bytes} bytes of unacknowledged torn writes")
    return report


@contextlib.contextmanager
def _taken_over(segment: Path) -> Iterator[bytes | None]:
    """The segment's bytes while we hold its lock, or None when a live writer holds it (or it just went)."""
    try:
        fd = os.open(segment, os.O_RDONLY)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read()
        yield data
    finally:
        os.close(fd)


def _land_segment(data: bytes, bronze: Bronze, known: KnownIds, report: LandReport) -> None:
    records, torn = decode_segment(data)
    report.torn_bytes += torn
    by_day: dict[date, dict[str, FetchResult]] = {}
    for record in records:
        fresh = by_day.setdefault(record.day, {})
        if record.request_id in fresh or record.request_id in known.of(record.day):
            report.duplicates += 1
        else:
            fresh[record.request_id] = record.as_result()
    for day, results in sorted(by_day.items()):
        if results:
            bronze.append(day, list(results.values()))
            known.of(day).update(results)  # only once stored: a failed append lands again next time
            report.events += len(results)
            report.days[day.isoformat()] = report.days.get(day.isoformat(), 0) + len(results)
