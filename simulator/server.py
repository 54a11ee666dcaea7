"""The HTTP face of the simulator: Server API v3 `GET /events/{id}` and v4 `GET /v4/events/{id}`, the events search,
the event updates (v3 `PUT /events/{id}`, v4 `PATCH /v4/events/{id}`), plus a control API.

Behaviour a client can observe, in the order the handler applies it to an API request:
1. `latency_ms` of artificial delay, then a seeded fault draw: drop the connection, answer 500/502/503, or mark
   a 200 for truncation (`simulator.faults`).
2. Authentication: header `Auth-API-Key` or query `api_key`; missing → 403 `TokenRequired`, wrong → 403
   `TokenNotFound` (bodies as in examples/v3/errors).
3. Rate limit (`rps_limit`): 429 + `Retry-After: 1` + `TooManyRequests`, or for a share of event requests the
   documented in-200 throttle body.
4. `recorded_dir` bodies, served verbatim for their IDs (even IDs of a legacy or broken form, and at any age).
5. 400 `RequestCannotBeParsed` "invalid request id" for an ID that is not `^\\d{13}\\.[A-Za-z0-9]{6}$`. The v3
   schema declares no 400 for this operation (API.md 17.3); we answer 400 as v4 does, because a client must
   treat it as permanent either way.
6. 404 `RequestNotFound` for IDs never issued, outside `retention_days`, later than the simulator clock, or
   deleted upstream (`POST /_simulator/delete-events`).
7. 200 with the generated v3 event, as the customer's updates left it (`simulator.updates`).
`GET /v4/events/{event_id}` runs the same steps in v4 dialect: `Authorization: Bearer <key>` only, a throttle is
always a real 429, no recorded bodies, the v4 render of the same facts, and every error body in its v4 form
(`V4_BODIES`, as examples/v4/errors: secret_api_key_required/_not_found, event_not_found,
request_cannot_be_parsed, too_many_requests, failed).
`GET /events/search` and `GET /v4/events` run steps 1-3 (a throttled search always gets a 429), then
`simulator.search` (deleted events left out). `PUT /events/{id}` and `PATCH /v4/events/{id}` run steps 1-3 (a
throttled update gets a 429), then 400 for a malformed ID, 404 like a GET, then the body and age checks of
`simulator.updates`; they are counted as kind `update`. `DELETE /visitors/{visitor_id}` and `DELETE
/v4/visitors/{visitor_id}` run steps 1-3, then 400 for a malformed visitor ID, else 200 with an empty body: the
visitor's events of the past 10 days answer 404 and leave the search from then on (kind `visitor_delete`).

Control endpoints (never delayed, faulted, throttled or counted): `GET /_simulator/stats`, `GET
/_simulator/arrivals` (when each API request arrived, for measuring the rate a key really saw), `POST
/_simulator/reset`, `POST /_simulator/delete-events` (body `{"request_ids": [...]}`: those events are deleted
upstream, as a visitor deletion does, and answer 404 from then on). Everything else is a plain-text 404.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from simulator import search
from simulator.config import SimulatorConfig
from simulator.events import render_v3
from simulator.events_v4 import render_v4
from simulator.faults import DROP, SERVER_ERROR, THROTTLED_IN_200, TOO_MANY_REQUESTS, TRUNCATE, Faults
from simulator.population import Population
from simulator.recorded import index_recorded
from simulator.updates import Changes, UpdateRefused, check_age, parse_update

__all__ = ["SimulatorConfig", "SimulatorHandle", "start"]

DAY_MS = 86_400_000
JSON = "application/json"
ARRIVALS_KEPT = 100_000


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


TOKEN_REQUIRED = _error("TokenRequired", "secret key is required")
TOKEN_NOT_FOUND = _error("TokenNotFound", "secret key is not found")
REQUEST_NOT_FOUND = _error("RequestNotFound", "request id is not found")
INVALID_REQUEST_ID = _error("RequestCannotBeParsed", "invalid request id")
INVALID_VISITOR_ID = _error("RequestCannotBeParsed", "invalid visitor id")
VISITOR_ID = re.compile(r"[A-Za-z0-9]{20}")  # the simulator's visitor IDs (20 base62 characters, as Fingerprint's)
# Every v3 error body the API pipeline sends -> its v4 counterpart, as in examples/v4/errors/*.json.
V4_BODIES = {
    TOKEN_REQUIRED: _error("secret_api_key_required", "secret API key in header is missing or empty"),
    TOKEN_NOT_FOUND: _error("secret_api_key_not_found", "no fingerprint workspace found for specified secret API key"),
    REQUEST_NOT_FOUND: _error("event_not_found", "event id not found"),
    INVALID_REQUEST_ID: _error("request_cannot_be_parsed", "invalid event_id"),
    INVALID_VISITOR_ID: _error("request_cannot_be_parsed", "invalid visitor id"),
    TOO_MANY_REQUESTS: _error("too_many_requests", "too many requests"),
    _error("Failed", "internal server error"): _error("failed", "internal server error"),
}


class Stats:
    """Request counters, readable over HTTP so a test can prove from outside that no API call was made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_kind: Counter[str] = Counter({"event": 0, "search": 0})
            self.by_status: Counter[str] = Counter()
            self.throttled = 0
            self.throttled_in_200 = 0
            self.faults: Counter[str] = Counter({DROP: 0, SERVER_ERROR: 0, TRUNCATE: 0})
            self.arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)

    def request(self, kind: str) -> None:
        with self._lock:
            self.total += 1
            self.by_kind[kind] += 1
            self.arrivals.append(time.time())

    def answered(self, status: int | None, fault: str | None = None, throttled: bool = False) -> None:
        with self._lock:
            if status is not None:
                self.by_status[str(status)] += 1
            if fault is not None:
                self.faults[fault] += 1
            if throttled:
                self.throttled += 1
                self.throttled_in_200 += status == 200

    def arrival_times(self) -> list[float]:
        """When each API request arrived (wall clock, the last ARRIVALS_KEPT): the rate the key really saw."""
        with self._lock:
            return list(self.arrivals)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_kind": dict(self.by_kind),
                "by_status": dict(sorted(self.by_status.items())),
                "throttled": self.throttled,
                "throttled_in_200": self.throttled_in_200,
                "faults": dict(self.faults),
            }


class _State:
    """Everything a request handler needs, shared by the handler threads of one server."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.population = Population(config.seed, config.events_per_day)
        self.faults = Faults(config)
        self.stats = Stats()
        self.recorded = index_recorded(config.recorded_dir) if config.recorded_dir else {}
        self.changes = Changes()

    def now_ms(self) -> int:
        return self.config.now_ms if self.config.now_ms is not None else int(time.time() * 1000)

    def render(self, version: int) -> Callable[[str], dict[str, Any]]:
        """The body renderer of API `version`: an event's facts, as the customer's updates left them."""
        render = render_v3 if version == 3 else render_v4
        return lambda request_id: render(self.changes.apply(self.population.facts(request_id)))

    def event_answer(self, request_id: str, version: int = 3) -> tuple[int, bytes]:
        """Steps 4-7 of the module docstring for one request ID (error bodies in v3 form)."""
        recorded = self.recorded.get(request_id) if version == 3 else None
        if recorded is not None:
            return 200, recorded
        missing = self._missing(request_id)
        if missing is not None:
            return missing
        return 200, orjson.dumps(self.render(version)(request_id))

    def _missing(self, request_id: str) -> tuple[int, bytes] | None:
        """Steps 5-6: why a GET of `request_id` would not find it, or None when it would."""
        population = self.population
        if not population.is_well_formed(request_id):
            return 400, INVALID_REQUEST_ID
        if not population.exists(request_id) or self.hidden(request_id):
            return 404, REQUEST_NOT_FOUND
        ts, now, retention = population.timestamp_ms(request_id), self.now_ms(), self.config.retention_days
        if ts > now or (retention is not None and ts < now - retention * DAY_MS):
            return 404, REQUEST_NOT_FOUND
        return None

    def update_answer(self, request_id: str, version: int, body: bytes) -> tuple[int, bytes]:
        """An event update (`simulator.updates`): 200 `{}` once applied, else the API's refusal."""
        missing = self._missing(request_id)
        if missing is not None:
            return missing
        try:
            changes = parse_update(version, body)
            age_ms = self.now_ms() - self.population.timestamp_ms(request_id)
            check_age(version, age_ms, self.config.update_not_ready_ms)
        except UpdateRefused as refused:
            return refused.status, refused.body
        self.changes.update(request_id, changes)
        return 200, b"{}"

    def search_answer(self, version: int, params: dict[str, list[str]]) -> tuple[int, bytes]:
        """An events search (`simulator.search`) over the same population as the event endpoint."""
        return search.answer(
            version,
            params,
            self.population,
            self.render(version),
            self.now_ms(),
            self.config.retention_days,
            hidden=self.hidden,
        )

    def hidden(self, request_id: str) -> bool:
        """Deleted upstream: by the control API, or by a visitor deletion (which needs the event's facts)."""
        changes = self.changes
        if changes.is_deleted(request_id):
            return True
        return bool(changes.deleted_visitors) and changes.visitor_deleted(self.population.facts(request_id))

    def visitor_delete_answer(self, visitor_id: str, version: int) -> tuple[int, bytes]:
        """`DELETE /visitors/{visitor_id}`: 200 with an empty body (the deletion is scheduled; here it is immediate),
        400 for a malformed visitor ID."""
        if not VISITOR_ID.fullmatch(visitor_id):
            return 400, INVALID_VISITOR_ID
        self.changes.delete_visitor(visitor_id, self.now_ms())
        return 200, b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api_version = 3  # of the API request being answered (set per request by `_api`)
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle + delayed ACK would add 40 ms
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def version_string(self) -> str:
        return "fp-simulator"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.config.log_requests:
            super().log_message(format, *args)

    # --- routing --------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def do_PUT(self) -> None:
        self._guarded(lambda: self._update("/events/", 3))

    def do_PATCH(self) -> None:
        self._guarded(lambda: self._update("/v4/events/", 4))

    def do_DELETE(self) -> None:
        self._guarded(self._delete)

    def _delete(self) -> None:
        """`DELETE /visitors/{visitor_id}` (v3) or `DELETE /v4/visitors/{visitor_id}` (v4); kind `visitor_delete`."""
        url = urlsplit(self.path)
        for prefix, version in (("/visitors/", 3), ("/v4/visitors/", 4)):
            if url.path.startswith(prefix) and url.path.count("/") == prefix.count("/"):
                self._api("visitor_delete", url.query, unquote(url.path[len(prefix) :]), version)
                return
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _guarded(self, handle: Any) -> None:
        """Report a simulator bug as a 500 naming it, instead of an unexplained dropped connection."""
        try:
            handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            code = "Failed" if self.api_version == 3 else "failed"  # each version's ErrorCode enum
            self._send(500, _error(code, f"simulator bug: {type(exc).__name__}: {exc}"))

    def _get(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_simulator/stats":
            self._send(200, orjson.dumps(self.server.state.stats.snapshot()))
        elif url.path == "/_simulator/arrivals":
            self._send(200, orjson.dumps(self.server.state.stats.arrival_times()))
        elif url.path == "/events/search":
            self._api("search", url.query, None)
        elif url.path.startswith("/events/") and url.path.count("/") == 2:
            self._api("event", url.query, unquote(url.path[len("/events/") :]))
        elif url.path == "/v4/events":
            self._api("search", url.query, None, version=4)
        elif url.path.startswith("/v4/events/") and url.path.count("/") == 3:
            self._api("event", url.query, unquote(url.path[len("/v4/events/") :]), version=4)
        else:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _post(self) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        if path == "/_simulator/reset":
            self.server.state.stats.reset()
            self._send(200, orjson.dumps({"reset": True}))
        elif path == "/_simulator/delete-events":
            ids = orjson.loads(body).get("request_ids") if body else None
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                self._send(400, _error("RequestCannotBeParsed", 'expected {"request_ids": [<string>, ...]}'))
                return
            self.server.state.changes.delete(ids)
            self._send(200, orjson.dumps({"deleted": len(ids)}))
        else:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _update(self, prefix: str, version: int) -> None:
        """`PUT /events/{id}` (v3) or `PATCH /v4/events/{id}` (v4); any other path is a plain 404."""
        body = self._body()
        url = urlsplit(self.path)
        if url.path.startswith(prefix) and url.path.count("/") == prefix.count("/"):
            self._api("update", url.query, unquote(url.path[len(prefix) :]), version, body)
        else:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- the API pipeline -----------------------------------------------------------------------------------
    def _api(self, kind: str, query: str, request_id: str | None, version: int = 3, body: bytes = b"") -> None:
        self.api_version = version  # `_send` speaks this version's error bodies
        state = self.server.state
        state.stats.request(kind)
        if state.config.latency_ms:
            time.sleep(state.config.latency_ms / 1000)
        fault, server_error = state.faults.draw()
        if fault == DROP:
            state.stats.answered(None, DROP)
            self.close_connection = True
            return
        if server_error is not None:
            headers = {"Retry-After": server_error.retry_after} if server_error.retry_after else {}
            state.stats.answered(server_error.status, SERVER_ERROR)
            self._send(server_error.status, server_error.body, server_error.content_type, headers)
            return
        denied = self._auth_error(query) if version == 3 else self._bearer_error()
        if denied is not None:
            self._answer(403, denied)
            return
        if state.faults.over_limit():
            if kind == "event" and version == 3 and state.faults.throttle_in_200():
                self._answer(200, THROTTLED_IN_200, throttled=True)
            else:
                self._answer(429, TOO_MANY_REQUESTS, {"Retry-After": "1"}, throttled=True)
            return
        if request_id is None:
            status, answer = state.search_answer(version, parse_qs(query))
        elif kind == "update":
            status, answer = state.update_answer(request_id, version, body)
        elif kind == "visitor_delete":
            status, answer = state.visitor_delete_answer(request_id, version)
        else:
            status, answer = state.event_answer(request_id, version)
        if fault == TRUNCATE and status == 200:
            state.stats.answered(200, TRUNCATE)
            self._send_truncated(answer)
            return
        self._answer(status, answer)

    def _auth_error(self, query: str) -> bytes | None:
        key = self.headers.get("Auth-API-Key") or (parse_qs(query).get("api_key") or [""])[0]
        if not key:
            return TOKEN_REQUIRED
        return None if key == self.server.state.config.api_key else TOKEN_NOT_FOUND

    def _bearer_error(self) -> bytes | None:
        """v4 takes the key only as `Authorization: Bearer <key>` (v3 error bodies, translated on sending)."""
        scheme, _, key = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return TOKEN_REQUIRED
        return None if key.strip() == self.server.state.config.api_key else TOKEN_NOT_FOUND

    # --- writing --------------------------------------------------------------------------------------------
    def _answer(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        throttled: bool = False,
        content_type: str = JSON,
    ) -> None:
        # Counted before sending: a client that reads the stats right after its answer must see it.
        self.server.state.stats.answered(status, throttled=throttled)
        self._send(status, body, content_type, headers or {})

    def _send(self, status: int, body: bytes, content_type: str = JSON, headers: dict[str, str] | None = None) -> None:
        if self.api_version == 4:
            body = V4_BODIES.get(body, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_truncated(self, body: bytes) -> None:
        """A proxy losing its upstream mid-body (short-body) or a complete message with half a JSON (cut-json)."""
        half = body[: len(body) // 2]
        if self.server.state.config.truncate_mode == "cut-json":
            self._send(200, half)
            return
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not stall stop()
    allow_reuse_address = True

    def __init__(self, config: SimulatorConfig) -> None:
        self.state = _State(config)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((config.host, config.port), _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorHandle:
    """A running simulator: its URL and key, its population, its counters; `stop()` or use as a context manager."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread
        self.config: SimulatorConfig = server.state.config
        host, port = server.server_address[:2]
        self.port: int = port
        self.url = f"http://{host}:{port}"
        self.api_key = self.config.api_key
        self.population: Population = server.state.population

    def stats(self) -> dict[str, Any]:
        """The same counters as `GET /_simulator/stats`."""
        return self._server.state.stats.snapshot()

    def arrivals(self) -> list[float]:
        """When each API request arrived, as `GET /_simulator/arrivals` gives it."""
        return self._server.state.stats.arrival_times()

    def reset_stats(self) -> None:
        self._server.state.stats.reset()

    def page_ids(self, version: int, query: str) -> tuple[str, ...]:
        """The IDs this simulator's search model puts on the page `query` asks for, in order (ground truth for tests).

        Needs a pinned clock (`SimulatorConfig.now_ms`), so that the page does not move between asking and checking.
        """
        now = self.config.now_ms
        if now is None:
            raise ValueError("page_ids needs a simulator with a pinned clock (now_ms)")
        parse = search.parse_v3 if version == 3 else search.parse_v4
        page, _ = search.select(self.population, parse(parse_qs(query), now), now, self.config.retention_days)
        return tuple(rid for _, rid in page)

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and release the port; idempotent."""
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorHandle(url={self.url!r}, seed={self.config.seed})"


def start(config: SimulatorConfig | None = None) -> SimulatorHandle:
    """Start a simulator in a daemon thread and return once it accepts connections."""
    server = _Server(config or SimulatorConfig())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.name = f"fp-simulator:{server.server_address[1]}"
    thread.start()
    return SimulatorHandle(server, thread)
