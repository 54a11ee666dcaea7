"""Demo application logs: three formats per day, dirty on purpose, carrying the planted patterns."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest

from pipelines.logs import read_logs
from simulator.applog import day_lines as simulated_lines
from simulator.applog import write_demo_logs
from simulator.population import Population, day_start_ms

START = date(2026, 11, 20)
NOW_MS = day_start_ms(START + timedelta(days=3)) + 60_000
ID_IN_TEXT = re.compile(r"\b\d{13}\.[A-Za-z0-9]{6}\b")


@pytest.fixture(scope="module")
def population() -> Population:
    return Population(seed=1)


@pytest.fixture(scope="module")
def log_dir(population: Population, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("logs")
    write_demo_logs(population, out, START, days=3, per_day=300, now_ms=NOW_MS)
    return out


def lines_of(path: Path) -> list[bytes]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.splitlines()


def day_lines(log_dir: Path, day: date) -> list[bytes]:
    stamp = day.isoformat()
    return [line for name in (f"app-{stamp}.jsonl.gz", f"app-{stamp}.logfmt", f"nginx-{stamp}.log")
            for line in lines_of(log_dir / name)]  # fmt: skip


def ids_in(lines: list[bytes]) -> list[str]:
    return [m.group(0) for line in lines for m in ID_IN_TEXT.finditer(line.decode("utf-8", "replace"))]


def user_of(line: bytes) -> str | None:
    match = re.search(rb'(?:user_id"?[=:]"?|user=)([\w-]+)', line)
    return match.group(1).decode() if match else None


def test_three_files_per_day_are_written_and_readable(log_dir):
    names = sorted(p.name for p in log_dir.iterdir())
    assert names == sorted(
        f"{prefix}-{START + timedelta(days=d)}{suffix}"
        for d in range(3)
        for prefix, suffix in (("app", ".jsonl.gz"), ("app", ".logfmt"), ("nginx", ".log"))
    )
    for day in range(3):
        lines = day_lines(log_dir, START + timedelta(days=day))
        assert 300 <= len(lines) <= 420


def test_json_lines_spell_the_request_id_four_ways_and_carry_the_fields(log_dir):
    records = []
    for line in lines_of(log_dir / f"app-{START}.jsonl.gz"):
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    spellings = Counter(k for r in records for k in ("requestId", "request_id", "fpRequestId", "fingerprint") if k in r)
    assert set(spellings) == {"requestId", "request_id", "fpRequestId", "fingerprint"}
    assert all({"ts", "level", "action", "user_id", "outcome", "ip"} <= r.keys() for r in records)
    assert {r["action"] for r in records} >= {"login", "signup", "checkout", "password_reset"}
    assert all(r["ts"].endswith("Z") for r in records)


def test_a_log_line_comes_50_to_500_ms_after_its_event(population, log_dir):
    for line in lines_of(log_dir / f"app-{START}.logfmt"):
        fields = dict(part.split("=", 1) for part in line.decode().split(" ") if "=" in part)
        rid = fields.get("request_id", "")
        if not population.exists(rid):
            continue
        logged = int(datetime.fromisoformat(fields["ts"]).timestamp() * 1000)
        delay = logged - population.timestamp_ms(rid)
        assert 50 <= delay <= 500 or 1050 <= delay <= 5500, "direct, or a retry 1-5 s later"


def test_each_day_has_unknown_ids_malformed_lines_and_duplicates(population, log_dir):
    for offset in range(3):
        lines = day_lines(log_dir, START + timedelta(days=offset))
        found = ids_in(lines)
        assert any(not population.exists(rid) for rid in found), "well-formed IDs the API does not know"
        assert max(Counter(found).values()) >= 2, "the same event logged twice"
        assert any(b"12345.abc" in line for line in lines)
        assert any(b"\xff" in line for line in lines), "garbage bytes"
        assert any(not ID_IN_TEXT.search(line.decode("utf-8", "replace")) for line in lines)
        broken = 0
        for line in lines_of(log_dir / f"app-{START + timedelta(days=offset)}.jsonl.gz"):
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                broken += 1
        assert broken >= 2


def test_the_first_day_has_one_user_logging_in_from_twelve_visitors(population, log_dir):
    lines = [line for line in day_lines(log_dir, START) if user_of(line) == "u-sharer"]
    request_ids = set(ids_in(lines))
    assert len(request_ids) == 12
    visitors = {population.event_v3(rid)["products"]["identification"]["data"]["visitorId"] for rid in request_ids}
    assert len(visitors) == 12
    assert not [line for d in (1, 2) for line in day_lines(log_dir, START + timedelta(days=d)) if b"u-sharer" in line]


def test_the_second_day_has_a_burst_of_bad_bot_logins(population, log_dir):
    day = START + timedelta(days=1)
    burst = {rid for rid, kind in population.planted(day).items() if kind == "bot_burst"}
    logged = set(ids_in(day_lines(log_dir, day)))
    assert burst and burst <= logged
    bots = [population.event_v3(rid)["products"]["botd"]["data"]["bot"]["result"] for rid in burst]
    assert set(bots) == {"bad"}
    first_day_ids = set(ids_in(day_lines(log_dir, START)))
    assert not first_day_ids & {r for r, k in population.planted(START).items() if k == "bot_burst"}


def test_no_line_lies_after_now_and_writing_is_deterministic(population, log_dir, tmp_path):
    cutoff = day_start_ms(START) + 12 * 3_600_000
    write_demo_logs(population, tmp_path, START, days=2, per_day=100, now_ms=cutoff)
    lines = lines_of(tmp_path / f"app-{START}.logfmt") + lines_of(tmp_path / f"app-{START + timedelta(days=1)}.logfmt")
    assert lines, "the morning is logged"
    stamps = [datetime.fromisoformat(line.split(b" ")[0][3:].decode()) for line in lines if line.startswith(b"ts=")]
    assert max(stamps).timestamp() * 1000 <= cutoff
    again = tmp_path / "again"
    write_demo_logs(population, again, START, days=2, per_day=100, now_ms=cutoff)
    for path in again.iterdir():
        assert path.read_bytes() == (tmp_path / path.name).read_bytes()


def test_the_log_reader_finds_each_lines_user_action_and_outcome_in_every_format(population, log_dir):
    logged = simulated_lines(population, START, 0, 300, NOW_MS)
    truth = {(x.request_id, x.user_id, x.action, x.outcome) for x in logged if x.kind == "ok"}
    found = read_logs(str(log_dir / f"*-{START}.*")).occurrences
    for fmt in ("jsonl", "logfmt", "text"):
        with_user = found.filter(pl.col("log_format") == fmt, pl.col("app_user_id").is_not_null())
        assert with_user.height > 0, fmt
        assert set(with_user.select("request_id", "app_user_id", "action", "outcome").iter_rows()) <= truth, fmt
    text = found.filter(pl.col("log_format") == "text")
    access_lines = [x for x in lines_of(log_dir / f"nginx-{START}.log") if b'"POST /api/' in x]
    assert text["app_user_id"].null_count() == len(access_lines) > 0, "only access-log lines name no user"
