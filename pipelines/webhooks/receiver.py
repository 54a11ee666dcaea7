"""The webhook receiver: a small Starlette app that stores each signed Fingerprint webhook durably, then says 2xx.

`POST /` (or `/webhook`) with a v4 event or a v3 `Webhook` body:
1. A body over `max_body_bytes` is refused (413) before it is read whole.
2. Without a valid `FPJS-Event-Signature` (`pipelines.webhooks.signature`) it is refused: 401 when the header
   is missing, 403 when it does not match; nothing is stored. (`secrets=None` is the explicit insecure mode.)
3. A body that is not a webhook event of API v3 or v4 is refused (400) and counted.
4. An event this process already stored (Fingerprint retries a delivery it did not see acknowledged) is answered
   200 at once. Otherwise its raw body goes to the inbox through the group commit: the records of every request
   that arrived meanwhile are written and fsynced together, then all of them are answered 200. So the answer
   comes after one fsync, a few milliseconds, whatever the load, and never before the event is durable.
A lander thread moves closed inbox segments into bronze (`pipelines.webhooks.inbox`); the live segment is closed
every `land_interval_s`, at the start all segments left by a previous run are landed, and on shutdown the rest.
`GET /health` reports the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.storage.bronze import Bronze
from pipelines.webhooks.inbox import InboxRecord, KnownIds, SegmentWriter, land_inbox
from pipelines.webhooks.signature import SIGNATURE_HEADER, WebhookSecrets, is_signed
from transforms.webhooks import PushedEvent, identify

Log = Callable[[str], None]
_RECENT_DAYS = 3  # days of accepted IDs kept for answering retries at once (Fingerprint retries within minutes)


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


@dataclass
class ReceiverConfig:
    """What a receiver needs: where its inbox and bronze are, its secrets (None: insecure) and its pace."""

    inbox_dir: Path
    bronze: Bronze
    lock_path: Path
    secrets: WebhookSecrets | None
    max_body_bytes: int = 2 << 20
    land_interval_s: float = 60.0
    log: Log = field(default=print, repr=False)


class GroupCommit:
    """Durably appends the records of concurrent requests with one write + fsync, then releases them all."""

    def __init__(self, writer: SegmentWriter, rotate_every_s: float, on_rotate: Callable[[], None]) -> None:
        self.writer, self.rotate_every_s, self.on_rotate = writer, rotate_every_s, on_rotate
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._opened_at: float | None = None
        self._stopping = False

    async def commit(self, record: bytes) -> None:
        """Return once `record` is durable (raises the write's error otherwise)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        self._wakeup.set()
        await future

    async def run(self) -> None:
        """Write batches until `stop`; the live segment is rotated every `rotate_every_s`."""
        while not (self._stopping and not self._pending):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=min(1.0, self.rotate_every_s))
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._write(batch)
            if self._opened_at is not None and time.monotonic() - self._opened_at >= self.rotate_every_s:
                self.rotate()

    async def _write(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        if self._opened_at is None:
            self._opened_at = time.monotonic()
        try:
            await asyncio.to_thread(self.writer.append, [record for record, _ in batch])
        except OSError as error:
            for _, future in batch:
                future.set_exception(error)
            return
        for _, future in batch:
            future.set_result(None)

    def rotate(self) -> None:
        if self.writer.rotate():
            self._opened_at = None
            self.on_rotate()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()


class Lander(threading.Thread):
    """Lands closed inbox segments into bronze when woken (after a rotation) and at least every interval."""

    def __init__(self, config: ReceiverConfig) -> None:
        super().__init__(name="webhook-lander", daemon=True)
        self.config = config
        self.known = KnownIds(config.bronze)
        self.wake = threading.Event()
        self.stopping = False
        self.landed = 0

    def land(self) -> None:
        config = self.config
        try:
            report = land_inbox(config.inbox_dir, config.bronze, config.lock_path, self.known, config.log)
        except Exception as error:  # the inbox is durable: a failed landing is retried at the next one
            config.log(f"webhook inbox: landing failed, will retry: {type(error).__name__}: {error}")
            return
        self.known.forget_before(datetime.now(UTC).date() - timedelta(days=_RECENT_DAYS))
        if report.events or report.duplicates:
            self.landed += report.events
            days = ", ".join(f"{d}: {n}" for d, n in sorted(report.days.items())) or "none new"
            config.log(f"webhook inbox: landed {report.events} events in bronze ({days}), {report.duplicates} dups")

    def run(self) -> None:
        while not self.stopping:
            self.wake.wait(timeout=self.config.land_interval_s)
            self.wake.clear()
            if not self.stopping:
                self.land()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.join(timeout=60)


class Receiver:
    """The state of one running receiver: its group commit, its lander and its counters."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.counts: Counter[str] = Counter()
        self.accepted: dict[date, set[str]] = {}
        self.lander = Lander(config)
        self.commit: GroupCommit | None = None

    async def receive(self, request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, self.config.max_body_bytes)
        except BodyTooLarge:
            return self._refuse(413, "body_too_large", f"the body is over {self.config.max_body_bytes} bytes")
        secrets = self.config.secrets
        if secrets is not None:
            header = request.headers.get(SIGNATURE_HEADER)
            if not header:
                return self._refuse(401, "unsigned", f"the {SIGNATURE_HEADER} header is missing")
            if not is_signed(header, body, secrets):
                return self._refuse(403, "bad_signature", "the signature does not match the body")
        pushed = identify(body)
        if isinstance(pushed, str):
            return self._refuse(400, "not_an_event", pushed)
        return await self._store(pushed, body)

    async def _store(self, pushed: PushedEvent, body: bytes) -> JSONResponse:
        received = datetime.now(UTC)
        day = pushed.day or received.date()
        accepted = self.accepted.setdefault(day, set())
        if pushed.request_id in accepted:
            self.counts["duplicate"] += 1
            return JSONResponse({"status": "duplicate", "request_id": pushed.request_id})
        record = InboxRecord(pushed.request_id, pushed.api_version, day, received, body)
        assert self.commit is not None, "the receiver is not started"
        try:
            await self.commit.commit(record.encode())
        except OSError:
            return self._refuse(503, "store_failed", "the event could not be stored; retry later")
        accepted.add(pushed.request_id)
        self.counts["stored"] += 1
        return JSONResponse({"status": "stored", "request_id": pushed.request_id})

    def _refuse(self, status: int, reason: str, message: str) -> JSONResponse:
        self.counts[reason] += 1
        return JSONResponse({"status": "refused", "reason": reason, "message": message}, status_code=status)

    async def health(self, _: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "counts": dict(self.counts), "landed": self.lander.landed})

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        config = self.config
        self.lander.land()  # whatever a previous run acknowledged and did not land (a crash, a kill -9)
        self.lander.start()
        writer = SegmentWriter(config.inbox_dir)
        self.commit = GroupCommit(writer, config.land_interval_s, self._rotated)
        task = asyncio.create_task(self.commit.run())
        try:
            yield
        finally:
            self.commit.stop()
            await task
            writer.close()
            self.lander.stop()
            self.lander.land()
            self._prune_accepted()

    def _rotated(self) -> None:
        """A segment was closed: have it landed, and forget accepted IDs too old to be retried."""
        self.lander.wake.set()
        self._prune_accepted()

    def _prune_accepted(self) -> None:
        oldest = datetime.now(UTC).date() - timedelta(days=_RECENT_DAYS)
        for day in [d for d in self.accepted if d < oldest]:
            del self.accepted[day]


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(config: ReceiverConfig) -> Starlette:
    """The ASGI app of a receiver (run it with uvicorn; `pipelines.webhooks.__main__` does)."""
    receiver = Receiver(config)
    routes = [
        Route("/", receiver.receive, methods=["POST"]),
        Route("/webhook", receiver.receive, methods=["POST"]),
        Route("/health", receiver.health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=receiver.lifespan)
    app.state.receiver = receiver
    return app
