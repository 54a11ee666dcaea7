"""Benchmark: application-log parsing throughput per format, on one core, lines already in memory.

    ./fpwh bench benchmarks/bench_applog.py --lines 200000 --repeat 3

Lines are shaped like real applications' (and the simulator's demo logs): JSON lines with a nested or flat
request ID, logfmt, and two kinds of text line: a timestamped message with `key=value` pairs after a
free-text prefix, and an access-log line with the ID in its query string. Each format is parsed with
`transforms.applog.parse_lines` in batches of 50,000 lines (as `pipelines.logs` does). Time is this process's
CPU time, best of `--repeat` runs, so the figure is the parser's cost rather than what other jobs on a shared
machine leave of a core. This is a measurement, never a test: the suite asserts behaviour, not speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BATCH = 50_000


def _request_id(i: int) -> str:
    return f"{1763892000000 + i * 2777:013d}.{(i * 2654435761) % 10**6:06d}"


def json_line(i: int) -> bytes:
    ms = f"{i % 1000:03d}"
    rid = _request_id(i)
    id_field = f'"fingerprint":{{"requestId":"{rid}"}}' if i % 4 == 3 else f'"requestId":"{rid}"'
    return (
        f'{{"ts":"2026-11-23T10:{i // 60 % 60:02d}:{i % 60:02d}.{ms}Z","level":"INFO","action":"login",'
        f'"user_id":"u{i % 4000}","outcome":"success",{id_field},"ip":"10.0.{i % 256}.{i * 7 % 256}"}}'
    ).encode()


def logfmt_line(i: int) -> bytes:
    msg = ' msg="login ok"' if i % 3 == 0 else ""
    return (
        f"ts=2026-11-23T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z level=info action=login "
        f"user_id=u{i % 4000} outcome=success request_id={_request_id(i)}{msg} ip=10.0.{i % 256}.{i * 7 % 256}"
    ).encode()


def text_line(i: int) -> bytes:
    stamp = f"2026-11-23T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
    if i % 4 == 3:
        return (
            f"10.0.{i % 256}.9 - - [23/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "
            f'"POST /api/login?fp_request={_request_id(i)} HTTP/1.1" 200 512 "-" "Mozilla/5.0"'
        ).encode()
    return (
        f"{stamp} WARN [web-{i % 8}] login failed fp={_request_id(i)} user=u{i % 4000} outcome=failure "
        f"ip=10.0.{i % 256}.{i * 7 % 256}"
    ).encode()


FORMATS: dict[str, Callable[[int], bytes]] = {"jsonl": json_line, "logfmt": logfmt_line, "text": text_line}


def lines_per_second(fmt: str, lines: list[bytes], repeat: int) -> tuple[float, int]:
    """Best-of-`repeat` lines/s parsing `lines` as `fmt`, and the occurrences found (a sanity figure)."""
    from transforms.applog import parse_lines

    best, found = float("inf"), 0
    for _ in range(repeat):
        started = time.process_time()
        found = 0
        for start in range(0, len(lines), BATCH):
            numbered = list(enumerate(lines[start : start + BATCH], start + 1))
            found += parse_lines(numbered, "bench.log", fmt).occurrences.height
        best = min(best, time.process_time() - started)
    return len(lines) / best, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines per format")
    parser.add_argument("--repeat", type=int, default=3, help="runs per format; the best is reported")
    args = parser.parse_args()
    for fmt, make in FORMATS.items():
        lines = [make(i) for i in range(args.lines)]
        rate, found = lines_per_second(fmt, lines, args.repeat)
        print(f"{fmt:7s} {rate:>10,.0f} lines/s   ({found:,} occurrences from {len(lines):,} lines)")


if __name__ == "__main__":
    main()
