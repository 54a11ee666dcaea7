"""Specifications of the log-file edge: globs, plain and gzip files, streaming, per-file errors."""

from __future__ import annotations

import glob
import gzip
import os
import re
import sys
import tracemalloc
from datetime import date
from pathlib import Path

import orjson
import pytest

from pipelines.logs import (
    LogFileError,
    LogFiles,
    find_log_files,
    iter_log_batches,
    match_log_files,
    read_logs,
    request_ids_to_fetch,
)
from transforms.applog import OCCURRENCE_SCHEMA, REJECT_SCHEMA, LogOptions

RID = "1708102555327.NLOjmg"  # 2024-02-16
RID2 = "1708189000000.ABCdef"  # 2024-02-17
RID3 = "1708275400000.XYZ123"  # 2024-02-18


def line(request_id: str, **fields) -> bytes:
    return orjson.dumps({"requestId": request_id, **fields})


def write(path: Path, lines: list[bytes], *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(x + b"\n" for x in lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def rows(result, *columns: str) -> list[tuple]:
    return result.occurrences.select(*columns).rows()


def test_a_plain_file_and_a_gz_file_are_read_with_1_based_line_numbers(tmp_path):
    write(tmp_path / "a.log", [line(RID), b"", line(RID2)])
    write(tmp_path / "b.log.gz", [b"{", line(RID3)], gz=True)
    result = read_logs(str(tmp_path / "*"))
    assert result.files == [str(tmp_path / "a.log"), str(tmp_path / "b.log.gz")]
    assert rows(result, "request_id", "line_number") == [(RID, 1), (RID2, 3), (RID3, 2)]
    assert result.rejects.select("source_file", "line_number", "reason").rows() == [
        (str(tmp_path / "b.log.gz"), 1, "malformed_json")
    ]
    assert result.lines_read == 5


def test_gzip_is_detected_by_its_magic_bytes_not_by_the_file_name(tmp_path):
    write(tmp_path / "rotated.log.1", [line(RID)], gz=True)
    write(tmp_path / "misnamed.gz", [line(RID2)])
    result = read_logs(str(tmp_path / "*"))
    assert rows(result, "request_id") == [(RID2,), (RID,)]
    assert result.reject_counts == {}


def test_a_recursive_glob_and_a_list_of_patterns_read_each_file_once(tmp_path):
    write(tmp_path / "app" / "2024" / "02" / "app.log", [line(RID)])
    write(tmp_path / "app" / "top.log", [line(RID2)])
    write(tmp_path / "app" / "notes.txt", [line(RID3)])
    patterns = [str(tmp_path / "app" / "**" / "*.log"), str(tmp_path / "app" / "top.log")]
    assert find_log_files(patterns) == [
        str(tmp_path / "app" / "2024" / "02" / "app.log"),
        str(tmp_path / "app" / "top.log"),
    ]
    assert sorted(request_ids_to_fetch(read_logs(patterns).occurrences)) == [RID, RID2]


def test_a_current_symlink_to_todays_file_is_read_once_and_reported_as_an_alias(tmp_path):
    today = write(tmp_path / "app-2026-11-23.jsonl.gz", [line(RID), line(RID2)], gz=True)
    (tmp_path / "app-current.jsonl.gz").symlink_to(today.name)
    result = read_logs(str(tmp_path / "*.jsonl.gz"))
    assert rows(result, "request_id") == [(RID,), (RID2,)]
    assert result.files == [str(today)]
    assert result.aliases_skipped == [(str(tmp_path / "app-current.jsonl.gz"), str(today))]


def test_the_file_is_named_by_its_own_path_even_when_its_alias_sorts_first(tmp_path):
    real = write(tmp_path / "z-app.log", [line(RID)])
    (tmp_path / "a-latest.log").symlink_to(real)
    matched = match_log_files([str(tmp_path / "a-latest.log"), str(tmp_path / "*.log")])
    assert matched.paths == [str(real)]
    assert matched.aliases_skipped == [(str(tmp_path / "a-latest.log"), str(real))]


def test_a_hard_link_is_the_same_file_and_is_read_once(tmp_path):
    first = write(tmp_path / "app.log", [line(RID)])
    os.link(first, tmp_path / "app.log.1")
    result = read_logs(str(tmp_path / "app.log*"))
    assert (result.occurrences.height, result.files) == (1, [str(first)])
    assert result.aliases_skipped == [(str(tmp_path / "app.log.1"), str(first))]


def test_a_symlinked_directory_is_walked_once_under_its_own_name(tmp_path):
    real = write(tmp_path / "logs" / "2026-11-23" / "app.log", [line(RID)])
    (tmp_path / "logs" / "current").symlink_to("2026-11-23")
    result = read_logs(str(tmp_path / "logs" / "**" / "*.log"))
    assert (result.occurrences.height, result.files) == (1, [str(real)])
    assert result.aliases_skipped == [(str(tmp_path / "logs" / "current"), str(tmp_path / "logs" / "2026-11-23"))]


def test_symlink_loops_under_a_recursive_glob_are_entered_once(tmp_path):
    write(tmp_path / "logs" / "a.log", [line(RID)])
    write(tmp_path / "logs" / "sub" / "b.log", [line(RID2)])
    (tmp_path / "logs" / "sub" / "up").symlink_to("..")  # glob.glob reads b.log 41 times through this one
    (tmp_path / "logs" / "self").symlink_to(".")  # two loops: glob.glob walks ~2**40 paths
    result = read_logs(str(tmp_path / "logs" / "**" / "*.log"))
    assert sorted(result.occurrences["request_id"]) == [RID, RID2]
    assert result.files == [str(tmp_path / "logs" / "a.log"), str(tmp_path / "logs" / "sub" / "b.log")]
    assert sorted(result.aliases_skipped) == [
        (str(tmp_path / "logs" / "self"), str(tmp_path / "logs")),
        (str(tmp_path / "logs" / "sub" / "up"), str(tmp_path / "logs")),
    ]


def test_a_symlinked_directory_outside_the_glob_is_followed_as_glob_does(tmp_path):
    write(tmp_path / "elsewhere" / "x.log", [line(RID)])
    write(tmp_path / "logs" / ".cache" / "hidden.log", [line(RID2)])
    (tmp_path / "logs").joinpath("mounted").symlink_to(tmp_path / "elsewhere")
    assert find_log_files(str(tmp_path / "logs" / "**" / "*.log")) == [str(tmp_path / "logs" / "mounted" / "x.log")]


@pytest.mark.parametrize(
    "pattern",
    ["**/*.log", "logs/**", "logs/**/*.log", "logs/*/**/*.log*", "logs/**/2024/**/*.log", "{root}/logs/**/*.log"],
)
def test_without_aliases_the_files_are_exactly_those_glob_finds(tmp_path, monkeypatch, pattern):
    for name in ["a.log", "b.log.gz", "x/c.log", "x/2024/d.log", "y/2024/z/e.log", ".hidden/f.log", "x/.g.log"]:
        write(tmp_path / "logs" / name, [line(RID)])
    monkeypatch.chdir(tmp_path)
    pattern = pattern.format(root=tmp_path)
    expected = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    assert expected, "the pattern matches something"
    assert match_log_files(pattern) == LogFiles(expected, [])


def test_an_existing_file_path_is_taken_literally_even_with_glob_characters(tmp_path):
    path = write(tmp_path / "app[1].log", [line(RID)])
    assert read_logs([str(path)]).files == [str(path)]


def test_a_glob_that_matches_nothing_gives_empty_typed_frames(tmp_path):
    result = read_logs(str(tmp_path / "missing" / "*.log"))
    assert result.files == []
    assert result.occurrences.schema == OCCURRENCE_SCHEMA
    assert result.rejects.schema == REJECT_SCHEMA
    assert (result.occurrences.height, result.rejects.height, result.reject_counts, result.lines_read) == (
        0,
        0,
        {},
        0,
    )


def test_an_empty_file_is_listed_but_yields_no_batch(tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    assert list(iter_log_batches(str(tmp_path / "*.log"))) == []
    assert read_logs(str(tmp_path / "*.log")).files == [str(tmp_path / "empty.log")]


def test_each_file_gets_its_own_detected_format(tmp_path):
    write(tmp_path / "1.log", [line(RID, action="login")])
    write(tmp_path / "2.log", [f"at=info action=signup request_id={RID2}".encode()])
    write(tmp_path / "3.log", [f"2024-02-18 10:00:00 INFO checkout {RID3}".encode()])
    result = read_logs(str(tmp_path / "*.log"))
    assert rows(result, "log_format", "action") == [("jsonl", "login"), ("logfmt", "signup"), ("text", None)]


def test_a_configured_format_overrides_detection(tmp_path):
    write(tmp_path / "a.log", [f"request_id={RID} at=info".encode()])
    result = read_logs(str(tmp_path / "a.log"), LogOptions(format="text"))
    [(log_format, context)] = rows(result, "log_format", "context")
    assert log_format == "text"
    assert orjson.loads(context) == {"message": f"request_id={RID} at=info", "request_id": RID, "at": "info"}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_an_enormous_line_is_rejected_without_being_loaded(tmp_path, gz):
    huge = b'{"requestId": "' + RID.encode() + b'", "blob": "' + b"x" * 5_000_000 + b'"}'
    path = write(tmp_path / "huge.log", [line(RID), huge, line(RID2)], gz=gz)
    tracemalloc.start()
    try:
        result = read_logs(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000
    assert rows(result, "request_id", "line_number") == [(RID, 1), (RID2, 3)]
    assert result.rejects.select("line_number", "reason").rows() == [(2, "line_too_long")]
    assert result.rejects["excerpt"][0].startswith('{"requestId": "' + RID)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_a_line_of_exactly_max_line_bytes_is_read_and_one_byte_more_is_too_long(tmp_path, ending):
    at_limit = line(RID, pad="")
    path = tmp_path / "edge.log"
    path.write_bytes(at_limit + ending + at_limit + b" " + ending + at_limit)
    result = read_logs(str(path), LogOptions(max_line_bytes=len(at_limit)))
    assert rows(result, "line_number") == [(1,), (3,)]
    assert result.rejects.select("line_number", "reason").rows() == [(2, "line_too_long")]


def test_a_utf8_bom_and_a_last_line_without_newline_are_tolerated(tmp_path):
    (tmp_path / "bom.log").write_bytes(b"\xef\xbb\xbf" + line(RID) + b"\r\n" + line(RID2))
    assert rows(read_logs(str(tmp_path / "bom.log")), "request_id") == [(RID,), (RID2,)]


def test_binary_garbage_in_a_file_is_counted_line_by_line(tmp_path):
    lines = [f"2024-02-16 12:00:00 login {RID}".encode(), b"\x00\x01\x02\x03", b"\xff\xfe\x80\x81", b"ok"]
    result = read_logs(str(write(tmp_path / "mixed.log", lines)))
    assert rows(result, "line_number") == [(1,)]
    assert result.reject_counts == {"binary": 2, "no_request_id": 1}


def _gz_lines(first: int, count: int) -> list[bytes]:
    numbers = range(first, first + count)
    return [line(f"{1708102555327 + i}.AAAAAA", n=i, pad=f"{i * 2654435761 % 2**32:08x}") for i in numbers]


def test_a_gz_file_cut_short_keeps_its_lines_and_counts_corrupt_gzip_then_goes_on(tmp_path):
    whole = gzip.compress(b"".join(x + b"\n" for x in _gz_lines(0, 2000)))
    (tmp_path / "1-truncated.log.gz").write_bytes(whole[: len(whole) // 2])
    write(tmp_path / "2-next.log", [line(RID)])
    result = read_logs(str(tmp_path / "*"))
    from_truncated = result.occurrences.filter(result.occurrences["source_file"].str.contains("truncated"))
    read = from_truncated.height
    assert 0 < read < 2000
    assert from_truncated["line_number"].to_list() == list(range(1, read + 1))
    assert result.reject_counts == {"corrupt_gzip": 1}
    reject = result.rejects.row(0, named=True)
    assert (reject["source_file"], reject["reason"]) == (str(tmp_path / "1-truncated.log.gz"), "corrupt_gzip")
    assert reject["line_number"] == read + 1
    assert RID in result.occurrences["request_id"].to_list()


def test_junk_after_a_good_gzip_member_keeps_the_members_lines(tmp_path):
    good = gzip.compress(line(RID) + b"\n" + line(RID2) + b"\n")
    (tmp_path / "junk.log.gz").write_bytes(good + b"\x1f\x8b\x99 this is not deflate")
    result = read_logs(str(tmp_path / "junk.log.gz"))
    assert rows(result, "request_id") == [(RID,), (RID2,)]
    assert result.rejects.select("line_number", "reason").rows() == [(3, "corrupt_gzip")]
    assert "BadGzipFile" in result.rejects["excerpt"][0]


def test_bytes_overwritten_inside_a_gzip_stream_count_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress(b"".join(x + b"\n" for x in _gz_lines(0, 3000))))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    (tmp_path / "damaged.log.gz").write_bytes(bytes(data))
    result = read_logs(str(tmp_path / "damaged.log.gz"))
    assert result.reject_counts.get("corrupt_gzip") == 1
    assert result.occurrences["line_number"].head(100).to_list() == list(range(1, 101))


def test_mixed_json_logfmt_and_text_files_give_every_occurrence_its_account_and_context(tmp_path):
    write(
        tmp_path / "app.jsonl.gz",
        [line(RID, ts="2024-02-16T12:00:00Z", user_id="u1", action="login", outcome="success")],
        gz=True,
    )
    write(tmp_path / "app.logfmt", [f"ts=2024-02-17T12:00:00Z action=signup user_id=u2 request_id={RID2}".encode()])
    text = [
        f"2024-02-18T12:00:00.5Z INFO [web-7] login user=u3 outcome=failure fp_request={RID3} latency_ms=12",
        f'10.0.0.1 - - [18/Feb/2024:12:00:01 +0000] "POST /api/login?fp={RID} HTTP/1.1" 401 5',
        f"2024-02-18T12:00:02Z WARN checkout failed fp={RID2} user=jos\xe9 action=checkout outcome=failure",
        " ".join(f"{1708275400000 + n}.AAAAAA" for n in range(21)),
    ]
    write(tmp_path / "web.log", [t.encode("latin-1") for t in text])  # one Latin-1 byte in a UTF-8 log
    result = read_logs(str(tmp_path / "*"))
    assert rows(result, "log_format", "request_id", "app_user_id", "action", "outcome") == [
        ("jsonl", RID, "u1", "login", "success"),
        ("logfmt", RID2, "u2", "signup", None),
        ("text", RID3, "u3", None, "failure"),
        ("text", RID, None, None, None),  # an access-log line names no user
        ("text", RID2, "jos\ufffd", "checkout", "failure"),
    ]
    assert [t.isoformat() for t in result.occurrences["occurred_at"]] == [
        "2024-02-16T12:00:00+00:00",
        "2024-02-17T12:00:00+00:00",
        "2024-02-18T12:00:00.500000+00:00",
        "2024-02-18T12:00:01+00:00",
        "2024-02-18T12:00:02+00:00",
    ]
    contexts = [orjson.loads(c) for c in result.occurrences["context"]]
    assert contexts[2] == {
        "message": text[0],
        "user": "u3",
        "outcome": "failure",
        "fp_request": RID3,
        "latency_ms": "12",
    }
    assert contexts[3] == {"message": text[1]}
    assert result.reject_counts == {"invalid_utf8": 1, "too_many_ids": 1}
    assert result.rejects.select("line_number", "reason").rows() == [(3, "invalid_utf8"), (4, "too_many_ids")]


def test_duplicates_are_kept_as_occurrences_but_fetched_once_in_first_seen_order(tmp_path):
    write(tmp_path / "a.log", [line(RID2, action="login"), line(RID, action="login")])
    write(tmp_path / "b.log", [line(RID2, action="checkout"), line(RID3)])
    result = read_logs(str(tmp_path / "*.log"))
    assert result.occurrences.height == 4
    assert request_ids_to_fetch(result.occurrences) == [RID2, RID, RID3]


def test_a_day_filter_keeps_that_days_occurrences_and_every_reject(tmp_path):
    lines = [
        line(RID, ts="2024-02-17T23:59:59Z"),  # logged on the 17th, whatever its ID says
        line(RID2),  # no timestamp: the 17th from its ID
        line(RID3),
        b"{broken",
        line(RID, ts="not a time"),  # bad timestamp: the 16th from its ID
    ]
    result = read_logs(str(write(tmp_path / "a.log", lines)), day=date(2024, 2, 17))
    assert rows(result, "request_id", "line_number") == [(RID, 1), (RID2, 2)]
    assert result.reject_counts == {"malformed_json": 1, "bad_timestamp": 1}
    assert result.rejects["reason"].to_list() == ["malformed_json", "bad_timestamp"]


def test_batches_hold_at_most_batch_lines_and_the_example_cap_holds_across_them(tmp_path):
    lines = [b"GET /static/x.js 200"] * 25 + [f"login {RID}".encode()] * 5
    write(tmp_path / "a.log", lines)
    write(tmp_path / "b.log", lines)
    options = LogOptions(max_examples_per_reason=4)
    batches = list(iter_log_batches(str(tmp_path / "*.log"), options, batch_lines=7))
    assert [b.lines for b in batches] == [7, 7, 7, 7, 2] * 2
    assert {b.occurrences["log_format"][0] for b in batches if b.occurrences.height} == {"text"}
    assert sum(b.reject_counts.get("no_request_id", 0) for b in batches) == 50
    assert sum(b.rejects.height for b in batches) == 8  # 4 examples for each of the two files


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_raises_with_its_path(tmp_path):
    path = write(tmp_path / "secret.log", [line(RID)])
    path.chmod(0)
    with pytest.raises(LogFileError, match=re.escape(str(path))):
        read_logs(str(path))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/mem is Linux's")
def test_a_file_that_fails_to_read_raises_with_its_path():
    with pytest.raises(LogFileError, match="/proc/self/mem"):
        read_logs("/proc/self/mem")


def test_a_file_that_vanishes_after_the_glob_matched_it_raises_with_its_path(tmp_path):
    write(tmp_path / "1.log", [line(RID)])
    gone = write(tmp_path / "2.log", [line(RID2)])
    batches = iter_log_batches(str(tmp_path / "*.log"))
    assert next(batches).occurrences["request_id"].to_list() == [RID]
    gone.unlink()
    with pytest.raises(LogFileError, match=re.escape(str(gone))):
        next(batches)
