"""Demo application logs that reference the population's events, with the dirt real logs carry.

Per UTC day three files are written, each line sorted by time:
- `app-YYYY-MM-DD.jsonl.gz`: JSON lines `{"ts", "level", "action", "user_id", "outcome", <request ID>, "ip"}`,
  the request ID spelled `requestId`, `request_id`, `fpRequestId` or nested as `fingerprint.requestId`;
- `app-YYYY-MM-DD.logfmt`: `ts=… level=info action=login user_id=u123 outcome=success request_id=… ip=…`;
- `nginx-YYYY-MM-DD.log`: free text with the context as `key=value` pairs after the message, as applications
  log it, `2026-11-22T10:00:01Z WARN [web-3] login failed fp=<id> user=u42 event=login outcome=failure ip=…`
  (other spellings than the JSON lines' and logfmt's, on purpose), or an access log line with the ID in the
  query string (`?fp_request=<id>`, no user).
About 75 / 15 / 10 % of the lines go to the three files. A line's `ts` is its event's timestamp + 50..500 ms (the
application logs after the browser's identification call), and lines after `now_ms` are left out.

Dirt, per day (deterministic): ~3 % duplicated request IDs (a failed attempt and its retry 1-5 s later, same ID),
~1 % unknown request IDs of valid format (the API answers 404), ~0.5 % malformed lines (broken JSON, garbage
bytes, a line without request ID, the invalid ID `12345.abc`).

Planted patterns (the population's events agree with them, see `simulator.population`):
- first day: user `u-sharer` logs in (success) from 12 distinct visitors, 12 `login` lines;
- second day: the day's bot burst, all of its events logged as `login` attempts (about 90 % `failure`) against
  many user IDs within 4 minutes, from headless browsers (botd `bad`) on one datacenter /24.
Outside those days the planted events are not logged.

With `sealed` (`simulator.sealed.SealedLogs`), a share of the JSON and logfmt lines of existing events carry the
event's sealed client result (`sealedResult` / `sealed_result`), most of them instead of the request ID, some
beside it; the choice is keyed by request ID, so the rest of the log is the same as without.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import orjson

from simulator.events import iso_ms, iso_s
from simulator.facts import ACCOUNT_SHARER, BOT_BURST
from simulator.ids import base62
from simulator.population import Population, day_start_ms
from simulator.sealed import SealedLogs, sealed_result
from simulator.visits import DAY_MS

DUPLICATE_RATE, UNKNOWN_RATE, MALFORMED_RATE = 0.03, 0.01, 0.005
_ID_FIELDS = ("requestId", "request_id", "fingerprint.requestId", "fpRequestId")
_MALFORMED = ("broken_json", "garbage", "no_request_id", "invalid_id")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One application log record before formatting; `request_id` None or `kind` set for the dirty ones."""

    ts_ms: int
    action: str
    user_id: str
    outcome: str
    request_id: str | None
    ip: str
    sink: str  # jsonl | logfmt | nginx
    kind: str = "ok"  # ok | one of _MALFORMED
    sealed: str | None = None  # the event's sealed result (base64), logged on the line
    logs_id: bool = True  # the line also logs the request ID (always, without a sealed result)


def write_demo_logs(
    population: Population,
    out_dir: Path,
    start: date,
    days: int,
    per_day: int,
    now_ms: int | None = None,
    sealed: SealedLogs | None = None,
) -> list[Path]:
    """Write `days` days of demo logs from `start` into `out_dir`; returns the files written (3 per day).

    `per_day` is the number of distinct existing events logged per day before duplicates, dirt and planted
    lines. `now_ms` (default: the real clock) leaves out lines that would lie in the future. `sealed` puts
    sealed client results on a share of the lines.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    paths: list[Path] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        lines = day_lines(population, day, offset, per_day, now)
        if sealed is not None:
            lines = [_with_sealed(population, line, sealed) for line in lines]
        paths.extend(_write_day(out_dir, day, lines))
    return paths


def _with_sealed(population: Population, line: LogLine, sealed: SealedLogs) -> LogLine:
    """`line` carrying its event's sealed result, for a keyed `sealed.share` of the events' JSON/logfmt lines."""
    rid = line.request_id
    if line.kind != "ok" or line.sink == "nginx" or rid is None or not population.exists(rid):
        return line
    rng = population.keyed.rng(f"sealed-line:{rid}")
    if rng.random() >= sealed.share:
        return line
    return replace(line, sealed=sealed_result(population, rid, sealed), logs_id=rng.random() < sealed.beside_id)


def day_lines(population: Population, day: date, offset: int, per_day: int, now_ms: int) -> list[LogLine]:
    """The log records of `day`, the `offset`-th day of the log (0 plants the sharer, 1 the bot burst)."""
    if day_start_ms(day) >= now_ms:
        return []  # a day that has not started yet has no log
    rng = population.keyed.rng(f"applog:{day.isoformat()}:{offset}:{per_day}")
    plants = population.planted(day)
    logged = [(ts, rid) for ts, rid in population.day_events(day) if rid not in plants and ts + 500 <= now_ms]
    chosen = rng.sample(logged, min(per_day, len(logged)))
    wanted = {0: ACCOUNT_SHARER, 1: BOT_BURST}.get(offset)
    chosen += [(population.timestamp_ms(rid), rid) for rid, kind in plants.items() if kind == wanted]
    lines: list[LogLine] = []
    for ts, rid in chosen:
        facts = population.facts(rid)
        line_ts = ts + rng.randint(50, 500)
        if line_ts > now_ms:
            continue
        failed = rng.random() < (0.9 if facts.bot == "bad" else 0.06)
        if facts.planted == ACCOUNT_SHARER:
            failed = False
        sink = _sink(rng.random())
        if rng.random() < DUPLICATE_RATE and line_ts + 5000 <= now_ms:  # a failed attempt, then the retry
            lines.append(LogLine(line_ts, facts.action, facts.user_id, "failure", rid, facts.ip, sink))
            line_ts += rng.randint(1000, 5000)
            failed = False
        lines.append(
            LogLine(line_ts, facts.action, facts.user_id, "failure" if failed else "success", rid, facts.ip, sink)
        )
    lines += _unknown_lines(population, rng, day, max(1, round(per_day * UNKNOWN_RATE)), now_ms)
    lines += _malformed_lines(rng, day, max(len(_MALFORMED), round(per_day * MALFORMED_RATE)), now_ms)
    lines.sort(key=lambda line: line.ts_ms)
    return lines


def _sink(u: float) -> str:
    return "jsonl" if u < 0.75 else "logfmt" if u < 0.9 else "nginx"


def _window(rng: random.Random, day: date, now_ms: int) -> int:
    start = day_start_ms(day)
    return start + rng.randrange(max(1, min(DAY_MS, now_ms - start)))


def _unknown_lines(population: Population, rng: random.Random, day: date, n: int, now_ms: int) -> Iterable[LogLine]:
    """Well-formed request IDs that the API never issued: a typo, another workspace, a test environment."""
    for _ in range(n):
        ts = _window(rng, day, now_ms)
        rid = f"{ts - 9:013d}.{base62(rng.getrandbits(36), 6)}"
        if population.exists(rid):
            continue
        user = f"u{rng.randrange(1, 4001)}"
        yield LogLine(ts, "login", user, "success", rid, "203.0.113.7", _sink(rng.random()))


def _malformed_lines(rng: random.Random, day: date, n: int, now_ms: int) -> Iterable[LogLine]:
    for k in range(n):
        kind = _MALFORMED[k % len(_MALFORMED)]
        rid = "12345.abc" if kind == "invalid_id" else None
        sink = "jsonl" if kind in ("broken_json", "garbage") else _sink(rng.random())
        yield LogLine(_window(rng, day, now_ms), "login", "u1", "failure", rid, "198.51.100.23", sink, kind)


# --- formatting ---------------------------------------------------------------------------------------------
def _json_line(line: LogLine, variant: int) -> bytes:
    if line.kind == "broken_json":
        return b'{"ts": "' + iso_ms(line.ts_ms).encode() + b'", "level": "INFO", "action": "checkout", "user_i'
    if line.kind == "garbage":
        return b"\x00\x00\xff\xfe\x89PNG\r\x1a garbage \xc3\x28 \x9d"
    record: dict[str, object] = {
        "ts": iso_ms(line.ts_ms),
        "level": "WARN" if line.outcome == "failure" else "INFO",
        "action": "healthcheck" if line.kind == "no_request_id" else line.action,
        "user_id": line.user_id,
        "outcome": line.outcome,
    }
    if line.request_id is not None and line.logs_id:
        field = _ID_FIELDS[variant % len(_ID_FIELDS)]
        if field == "fingerprint.requestId":
            record["fingerprint"] = {"requestId": line.request_id}
        else:
            record[field] = line.request_id
    if line.sealed is not None:
        record["sealedResult"] = line.sealed
    record["ip"] = line.ip
    return orjson.dumps(record)


def _logfmt_line(line: LogLine, variant: int) -> bytes:
    if line.kind in ("broken_json", "garbage"):
        return b"ts=" + iso_ms(line.ts_ms).encode() + b' level=error msg="panic: runtime error: index out of range'
    level = "warn" if line.outcome == "failure" else "info"
    text = f"ts={iso_ms(line.ts_ms)} level={level} action={line.action} user_id={line.user_id} outcome={line.outcome}"
    if line.request_id is not None and line.logs_id:
        text += f" request_id={line.request_id}"
    if line.sealed is not None:
        text += f" sealed_result={line.sealed}"
    if variant % 3 == 0:
        text += f' msg="{line.action} {"ok" if line.outcome == "success" else "rejected"}"'
    return f"{text} ip={line.ip}".encode()


def is_access_line(line: LogLine, variant: int) -> bool:
    """The text sink writes every fourth line as a web server's access log: the ID in the query string, no user,
    action or outcome (`variant` is the line's number in its day's file)."""
    return line.sink == "nginx" and line.request_id is not None and variant % 4 == 3


def _nginx_line(line: LogLine, variant: int) -> bytes:
    if line.request_id is None:
        return f"{iso_s(line.ts_ms)} CRIT worker process 4711 exited on signal 11".encode()
    ok = line.outcome == "success"
    if is_access_line(line, variant):
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(line.ts_ms // 1000))
        return (
            f'{line.ip} - - [{stamp}] "POST /api/{line.action}?fp_request={line.request_id} HTTP/1.1" '
            f'{200 if ok else 401} 512 "-" "Mozilla/5.0"'
        ).encode()
    return (
        f"{iso_s(line.ts_ms)} {'INFO' if ok else 'WARN'} [web-{variant % 8}] {line.action} {'ok' if ok else 'failed'} "
        f"fp={line.request_id} user={line.user_id} event={line.action} outcome={line.outcome} ip={line.ip}"
    ).encode()


_FORMATS = {"jsonl": _json_line, "logfmt": _logfmt_line, "nginx": _nginx_line}


def numbered(lines: list[LogLine], sink: str) -> Iterable[tuple[int, LogLine]]:
    """The day's lines of one sink with their number in its file (the `variant` that picks a line's spelling)."""
    return enumerate(x for x in lines if x.sink == sink)


@dataclass(frozen=True, slots=True)
class Logged:
    """What one written line with a usable request ID tells a reader of the log: the ground truth a log parser
    must recover (the access-log lines carry no user, action or outcome)."""

    ts_ms: int
    request_id: str
    user_id: str | None
    action: str | None
    outcome: str | None


def logged_requests(
    population: Population, start: date, days: int, per_day: int, now_ms: int, sealed: SealedLogs | None = None
) -> list[Logged]:
    """Every line `write_demo_logs` writes with the same arguments that names a well-formed request ID (directly
    or through a sealed result), as a reader should see it; the malformed lines are left out."""
    out: list[Logged] = []
    for offset in range(days):
        lines = day_lines(population, start + timedelta(days=offset), offset, per_day, now_ms)
        if sealed is not None:
            lines = [_with_sealed(population, line, sealed) for line in lines]
        for sink in _FORMATS:
            for n, line in numbered(lines, sink):
                if line.kind != "ok" or line.request_id is None:
                    continue
                bare = is_access_line(line, n)
                who = (None, None, None) if bare else (line.user_id, line.action, line.outcome)
                out.append(Logged(line.ts_ms, line.request_id, *who))
    return out


def _write_day(out_dir: Path, day: date, lines: list[LogLine]) -> list[Path]:
    stamp = day.isoformat()
    targets = {
        "jsonl": out_dir / f"app-{stamp}.jsonl.gz",
        "logfmt": out_dir / f"app-{stamp}.logfmt",
        "nginx": out_dir / f"nginx-{stamp}.log",
    }
    for sink, path in targets.items():
        body = b"".join(_FORMATS[sink](line, n) + b"\n" for n, line in numbered(lines, sink))
        if sink == "jsonl":
            buffer = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
                gz.write(body)
            body = buffer.getvalue()
        _write_atomic(path, body)
    return list(targets.values())


def _write_atomic(path: Path, body: bytes) -> None:
    """Write next to the target and rename, so a reader never sees half a log file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(body)
    os.replace(tmp, path)
