"""Specifications of the application-log parser: lines in, occurrences and counted rejects out."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.population import Population
from simulator.sealed import SealedLogs, sealed_result
from transforms.applog import (
    DEFAULT_REQUEST_ID_FIELDS,
    KEPT_REASONS,
    OCCURRENCE_COLUMNS,
    OCCURRENCE_SCHEMA,
    REJECT_COLUMNS,
    REJECT_REASONS,
    REJECT_SCHEMA,
    TIMESTAMP_FIELDS,
    LogOptions,
    ParsedBatch,
    detect_format,
    parse_lines,
)
from transforms.sealed import SealedKeys

SEALED_KEY = bytes(range(32))
RID = "1708102555327.NLOjmg"
RID2 = "1708189000000.ABCdef"
RID3 = "1708275400000.XYZ123"
LEGACY = "Abcdefghij0123456789"


def parse(*lines: str | bytes, fmt: str = "auto", **options) -> ParsedBatch:
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    return parse_lines(enumerate(raw, 1), "app.log", fmt, LogOptions(**options))


def json_line(**fields) -> str:
    return orjson.dumps(fields).decode()


def only_row(batch: ParsedBatch) -> dict:
    assert batch.occurrences.height == 1, (batch.occurrences, batch.rejects)
    return batch.occurrences.row(0, named=True)


def rejected(batch: ParsedBatch) -> list[tuple[int, str]]:
    return list(batch.rejects.select("line_number", "reason").iter_rows())


def assert_every_line_accounted_for(batch: ParsedBatch, lines: int) -> None:
    """lines == blank + lines with an occurrence + rejects that drop their line; never both."""
    dropped = {r: n for r, n in batch.reject_counts.items() if r not in KEPT_REASONS}
    with_occurrence = set(batch.occurrences.get_column("line_number").to_list())
    dropped_lines = set(batch.rejects.filter(~pl.col("reason").is_in(KEPT_REASONS))["line_number"].to_list())
    assert batch.lines == lines
    assert lines == batch.blank_lines + len(with_occurrence) + sum(dropped.values())
    assert not with_occurrence & dropped_lines


# --- request IDs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [f for f in DEFAULT_REQUEST_ID_FIELDS if "." not in f])
def test_every_common_spelling_of_the_request_id_field_is_found(name):
    assert only_row(parse(json_line(**{name: RID}), fmt="jsonl"))["request_id"] == RID
    assert only_row(parse(f"{name}={RID} msg=ok", fmt="logfmt"))["request_id"] == RID


@pytest.mark.parametrize("key", ["requestId", "request_id"])
def test_a_nested_fingerprint_request_id_is_found(key):
    row = only_row(parse(json_line(fingerprint={key: RID, "visitorId": "v1"}, msg="hi")))
    assert row["request_id"] == RID
    assert orjson.loads(row["context"]) == {"fingerprint": {"visitorId": "v1"}, "msg": "hi"}


def test_a_nested_object_left_empty_by_taking_the_id_is_dropped_from_the_context():
    row = only_row(parse(json_line(fingerprint={"requestId": RID}, msg="hi")))
    assert orjson.loads(row["context"]) == {"msg": "hi"}


def test_a_dotted_field_name_is_also_a_literal_logfmt_key():
    assert only_row(parse(f"fingerprint.requestId={RID} at=info", fmt="logfmt"))["request_id"] == RID


def test_configured_request_id_fields_replace_the_default_spellings():
    batch = parse(json_line(rid=RID), json_line(requestId=RID), request_id_fields=("rid",))
    assert batch.occurrences["line_number"].to_list() == [1]
    assert rejected(batch) == [(2, "no_request_id")]


def test_a_web_framework_request_id_does_not_hide_the_fingerprint_one_on_the_same_line():
    row = only_row(parse(json_line(request_id="8f2d6c1e-uuid", fpRequestId=RID)))
    assert row["request_id"] == RID
    assert orjson.loads(row["context"]) == {"request_id": "8f2d6c1e-uuid"}


@pytest.mark.parametrize(
    "value",
    ["8f2d6c1e-uuid", "1708102555327.NLOjm", "1708102555327-NLOjmg", 17081025553, True],
)
def test_a_named_field_holding_something_else_is_rejected_as_invalid_request_id(value):
    batch = parse(json_line(requestId=value, msg="x"))
    assert batch.occurrences.is_empty()
    assert rejected(batch) == [(1, "invalid_request_id")]
    assert batch.reject_counts == {"invalid_request_id": 1}


@pytest.mark.parametrize("line", [json_line(requestId=None), json_line(requestId=""), "requestId= at=info"])
def test_an_empty_request_id_field_counts_as_no_request_id(line):
    assert parse(line).reject_counts == {"no_request_id": 1}


def test_the_legacy_20_character_id_is_accepted_from_a_named_field():
    assert only_row(parse(json_line(requestId=LEGACY)))["request_id"] == LEGACY
    assert only_row(parse(f"requestId={LEGACY} at=info", fmt="logfmt"))["request_id"] == LEGACY


def test_the_legacy_20_character_id_is_never_taken_from_free_text():
    batch = parse(f"2024-02-16 12:00:00 login visitor {LEGACY}", fmt="text")
    assert batch.occurrences.is_empty()
    assert batch.reject_counts == {"no_request_id": 1}


def test_a_text_line_id_is_found_by_the_documented_pattern_anywhere_on_the_line():
    line = f'10.0.0.1 - - [16/Feb/2024:12:00:00 +0000] "POST /login?fp={RID}&x=1 HTTP/1.1" 200'
    row = only_row(parse(line, fmt="text"))
    assert row["request_id"] == RID
    assert orjson.loads(row["context"]) == {"message": line}
    assert row["log_format"] == "text"


def test_every_distinct_id_on_a_text_line_is_an_occurrence_of_that_line():
    batch = parse(f"merged {RID} into {RID2} (again {RID})", fmt="text")
    assert batch.occurrences.select("request_id", "line_number").rows() == [(RID, 1), (RID2, 1)]


def test_a_custom_pattern_takes_its_first_group_and_still_validates_the_id():
    batch = parse(f"fp:{RID} ok", "fp:not-an-id", "nothing", fmt="text", request_id_pattern=r"fp:(\S+)")
    assert batch.occurrences["request_id"].to_list() == [RID]
    assert rejected(batch) == [(2, "invalid_request_id"), (3, "no_request_id")]


# --- formats -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ([json_line(requestId=RID), json_line(a=1)], "jsonl"),
        ([f"ts=2024-02-16T12:00:00Z level=info request_id={RID}", "at=info msg=hello"], "logfmt"),
        (["2024-02-16 12:00:00 INFO app: login ok", f"2024-02-16 12:00:01 INFO fp={RID}"], "text"),
        (['127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326'], "text"),
        (["", "   "], "text"),
        ([], "text"),
    ],
)
def test_the_format_is_detected_from_a_sample_of_lines(sample, expected):
    assert detect_format([s.encode() for s in sample]) == expected


def test_auto_format_reads_each_kind_of_file():
    assert only_row(parse(json_line(requestId=RID)))["log_format"] == "jsonl"
    assert only_row(parse(f"request_id={RID} at=info"))["log_format"] == "logfmt"
    assert only_row(parse(f"INFO login {RID}"))["log_format"] == "text"


def test_logfmt_quoted_values_with_escapes_and_bare_keys_are_kept_in_the_context():
    line = rf'level=info msg="user \"bob\" signed in" path=/a?b=c empty= flag request_id={RID}'
    row = only_row(parse(line, fmt="logfmt"))
    assert orjson.loads(row["context"]) == {
        "level": "info",
        "msg": 'user "bob" signed in',
        "path": "/a?b=c",
        "empty": "",
        "flag": None,
    }


@pytest.mark.parametrize("line", ['request_id=x msg="unterminated', "just some words", 'a=1 b="x"c'])
def test_a_line_that_is_not_logfmt_is_rejected_as_malformed_logfmt(line):
    assert parse(line, fmt="logfmt").reject_counts == {"malformed_logfmt": 1}


@pytest.mark.parametrize("line", ["not json", '{"requestId": "' + RID + '"', "[1, 2]", '"a string"', "42"])
def test_a_line_that_is_not_a_json_object_is_rejected_as_malformed_json(line):
    assert parse(line, fmt="jsonl").reject_counts == {"malformed_json": 1}


# --- context -------------------------------------------------------------------------------------------


def test_the_lines_other_fields_are_promoted_and_all_kept_in_the_context():
    line = json_line(
        timestamp="2024-02-16T12:00:00Z",
        requestId=RID,
        userId=42,
        event="signup",
        status="blocked",
        ip="10.0.0.1",
        meta={"plan": "pro", "tags": ["a", "b"]},
    )
    row = only_row(parse(line))
    assert (row["app_user_id"], row["action"], row["outcome"]) == ("42", "signup", "blocked")
    assert orjson.loads(row["context"]) == {
        "userId": 42,
        "event": "signup",
        "status": "blocked",
        "ip": "10.0.0.1",
        "meta": {"plan": "pro", "tags": ["a", "b"]},
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"user_id": "u1", "uid": "u2"}, ("u1", None, None)),
        ({"accountId": "acc", "type": "checkout", "result": "ok"}, ("acc", "checkout", "ok")),
        ({"user": {"id": 1}, "account_id": 7, "action": "login", "outcome": "fail"}, ("7", "login", "fail")),
    ],
)
def test_promoted_columns_take_the_first_scalar_of_their_spellings(fields, expected):
    row = only_row(parse(json_line(requestId=RID, **fields)))
    assert (row["app_user_id"], row["action"], row["outcome"]) == expected


def test_a_line_holding_only_the_id_has_an_empty_context_object():
    assert only_row(parse(json_line(requestId=RID)))["context"] == "{}"


def test_a_line_nested_deeper_than_orjson_writes_keeps_the_whole_line_as_context():
    line = f'{{"requestId": "{RID}", "deep": ' + '{"d": ' * 300 + "{}" + "}" * 300 + "}"
    assert only_row(parse(line))["context"] == line


def test_a_text_lines_key_value_pairs_fill_the_same_columns_as_a_logfmt_line():
    text = f"2026-11-23T10:00:01.123Z INFO [web-7] login user=alice outcome=failure fp_request={RID} latency_ms=12"
    row = only_row(parse(text, fmt="text"))
    twin = only_row(parse(f"ts=2026-11-23T10:00:01.123Z user=alice outcome=failure request_id={RID}", fmt="logfmt"))
    assert (row["app_user_id"], row["action"], row["outcome"]) == ("alice", None, "failure")
    assert (row["app_user_id"], row["outcome"], row["occurred_at"]) == (
        twin["app_user_id"],
        twin["outcome"],
        twin["occurred_at"],
    )
    assert row["occurred_at"] == datetime(2026, 11, 23, 10, 0, 1, 123_000, tzinfo=UTC)
    assert orjson.loads(row["context"]) == {
        "message": text,
        "user": "alice",
        "outcome": "failure",
        "fp_request": RID,
        "latency_ms": "12",
    }


@pytest.mark.parametrize("names", [("user_id", "action", "result"), ("accountId", "event_type", "status")])
def test_text_pairs_are_promoted_under_every_spelling_logfmt_knows(names):
    user, action, outcome = names
    row = only_row(parse(f"WARN auth {user}=u42 {action}=login {outcome}=failure fp={RID}", fmt="text"))
    assert (row["app_user_id"], row["action"], row["outcome"]) == ("u42", "login", "failure")


def test_text_pairs_take_quoted_values_but_not_query_strings_urls_or_glued_tokens():
    line = (
        f'2024-02-16T12:00:00Z INFO msg="login \\"ok\\" for bob" GET /login?user=mallory&fp={RID} '
        'https://example.com/?uid=7 a==b 1+1=2 x="glued"y [user=eve] empty='
    )
    row = only_row(parse(line, fmt="text"))
    assert orjson.loads(row["context"]) == {"message": line, "msg": 'login "ok" for bob', "empty": ""}
    assert row["app_user_id"] is None


def test_a_pair_named_message_does_not_replace_the_line_in_the_context():
    line = f"INFO message=hello fp={RID}"
    assert orjson.loads(only_row(parse(line, fmt="text"))["context"]) == {"message": line, "fp": RID}


def test_a_text_line_without_a_timestamp_in_its_prose_takes_it_from_a_ts_pair():
    assert only_row(parse(f"login ok fp={RID} ts=1708084800", fmt="text"))["occurred_at"] == NOON
    batch = parse(f"login ok fp={RID} ts=soon", fmt="text")
    assert (only_row(batch)["occurred_at"], batch.reject_counts) == (None, {"bad_timestamp": 1})


def test_the_prefix_timestamp_wins_over_a_ts_pair_and_the_pair_stays_in_the_context():
    row = only_row(parse(f"2024-02-16T12:00:00Z login fp={RID} ts=1", fmt="text"))
    assert row["occurred_at"] == NOON
    assert orjson.loads(row["context"])["ts"] == "1"


def test_a_line_that_starts_with_prose_is_text_however_many_pairs_follow():
    line = f"2024-02-16T12:00:00Z WARN login failed fp={RID} user=u42 action=login outcome=failure ip=10.0.0.1"
    assert detect_format([line.encode()] * 3) == "text"
    row = only_row(parse(line))
    assert (row["log_format"], row["request_id"], row["app_user_id"]) == ("text", RID, "u42")


# --- timestamps ----------------------------------------------------------------------------------------

NOON = datetime(2024, 2, 16, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-16T12:00:00Z", NOON),
        ("2024-02-16T12:00:00.250Z", NOON.replace(microsecond=250_000)),
        ("2024-02-16T12:00:00.123456789Z", NOON.replace(microsecond=123_456)),
        ("2024-02-16T13:00:00+01:00", NOON),
        ("2024-02-16T07:00:00-0500", NOON),
        ("2024-02-16 12:00:00,500", NOON.replace(microsecond=500_000)),
        ("2024-02-16T12:00:00", NOON),  # naive means UTC
        ("2024-02-16 12:00:00 +0000 UTC", NOON),  # Go's time.Time.String()
        ("2024-02-16", NOON.replace(hour=0)),
        (1708084800, NOON),
        (1708084800.5, NOON.replace(microsecond=500_000)),
        (1708084800250, NOON.replace(microsecond=250_000)),
        ("1708084800", NOON),
        ("1708084800250", NOON.replace(microsecond=250_000)),
        ("[16/Feb/2024:13:00:00 +0100]", NOON),
        ("16/Feb/2024:12:00:00", NOON),
    ],
)
def test_timestamps_in_every_documented_form_become_utc(value, expected):
    row = only_row(parse(json_line(requestId=RID, ts=value)))
    assert row["occurred_at"] == expected
    assert row["log_day"] == date(2024, 2, 16)
    assert row["context"] == "{}"


@pytest.mark.parametrize("name", TIMESTAMP_FIELDS)
def test_every_timestamp_field_name_is_read(name):
    assert only_row(parse(f"{name}=2024-02-16T12:00:00Z request_id={RID}"))["occurred_at"] == NOON


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"2024-02-16T13:00:00+01:00 INFO login {RID}", NOON),
        (f"2024-02-16 12:00:00,000 INFO login {RID} at 2023-01-01T00:00:00Z", NOON),
        (f'10.0.0.1 - - [16/Feb/2024:07:00:00 -0500] "GET /?fp={RID}" 200', NOON),
        (f"INFO login {RID}", None),
    ],
)
def test_a_text_lines_timestamp_is_the_first_iso_or_clf_one_on_the_line(line, expected):
    assert only_row(parse(line, fmt="text"))["occurred_at"] == expected


def test_occurred_at_is_a_timezone_aware_utc_column():
    batch = parse(json_line(requestId=RID, ts="2024-02-16T12:00:00+05:00"))
    assert batch.occurrences.schema["occurred_at"] == pl.Datetime("us", "UTC")
    assert only_row(batch)["occurred_at"] == datetime(2024, 2, 16, 7, tzinfo=UTC)


def test_without_a_timestamp_the_log_day_comes_from_the_request_id():
    batch = parse(json_line(requestId=RID), json_line(requestId=LEGACY))
    rows = batch.occurrences.select("occurred_at", "log_day").rows()
    assert rows == [(None, date(2024, 2, 16)), (None, None)]


def test_an_unparseable_timestamp_keeps_the_occurrence_and_counts_bad_timestamp():
    batch = parse(json_line(requestId=RID, ts="yesterday-ish", msg="x"), json_line(requestId=RID, ts=True))
    assert batch.occurrences.select("occurred_at", "log_day").rows() == [(None, date(2024, 2, 16))] * 2
    assert orjson.loads(batch.occurrences["context"][0]) == {"ts": "yesterday-ish", "msg": "x"}
    assert rejected(batch) == [(1, "bad_timestamp"), (2, "bad_timestamp")]
    assert_every_line_accounted_for(batch, 2)


def test_a_text_timestamp_that_looks_iso_but_is_not_a_date_counts_bad_timestamp():
    batch = parse(f"2024-13-45 12:00:00 INFO {RID}", fmt="text")
    assert only_row(batch)["occurred_at"] is None
    assert batch.reject_counts == {"bad_timestamp": 1}


# --- bad input -----------------------------------------------------------------------------------------


def test_each_bad_line_is_counted_with_its_reason_file_and_line_number():
    batch = parse(
        json_line(requestId=RID),
        "{oops",
        json_line(msg="no id here"),
        json_line(requestId="nope"),
        b"\x00\x01\x02binary",
        "",
        json_line(requestId=RID, pad="x" * 200),
        fmt="jsonl",
        max_line_bytes=150,
    )
    assert rejected(batch) == [
        (2, "malformed_json"),
        (3, "no_request_id"),
        (4, "invalid_request_id"),
        (5, "binary"),
        (7, "line_too_long"),
    ]
    assert batch.rejects["source_file"].unique().to_list() == ["app.log"]
    assert batch.reject_counts == dict.fromkeys(
        ["malformed_json", "no_request_id", "invalid_request_id", "binary", "line_too_long"], 1
    )
    assert_every_line_accounted_for(batch, 7)


@pytest.mark.parametrize("fmt", ["jsonl", "logfmt", "text"])
@pytest.mark.parametrize(
    "line",
    [
        b"\xff\xfe\xfd garbage \x80",  # not UTF-8
        f"request_id={RID} \x00 {RID}".encode(),  # NUL byte
        bytes(range(1, 32)) + RID.encode(),  # mostly control characters
    ],
)
def test_binary_lines_are_rejected_as_binary_in_every_format(fmt, line):
    assert parse(line, fmt=fmt).reject_counts == {"binary": 1}


def test_a_line_with_a_few_control_characters_is_still_read():
    assert only_row(parse(f"\x1b[32mINFO\x1b[0m\tlogin {RID}", fmt="text"))["request_id"] == RID


def test_a_line_over_the_limit_is_rejected_but_one_at_the_limit_is_read():
    at_limit = json_line(requestId=RID, pad="")
    batch = parse(at_limit, at_limit + " ", fmt="jsonl", max_line_bytes=len(at_limit))
    assert batch.occurrences["line_number"].to_list() == [1]
    assert rejected(batch) == [(2, "line_too_long")]


def test_examples_are_capped_per_reason_while_every_reject_is_counted():
    lines = [f"GET /static/{i}.js 200" for i in range(50)] + ["{"] * 5
    batch = parse(*lines, fmt="text", max_examples_per_reason=3)
    assert batch.reject_counts == {"no_request_id": 55}
    assert rejected(batch) == [(1, "no_request_id"), (2, "no_request_id"), (3, "no_request_id")]


def test_examples_already_stored_for_the_file_count_against_the_cap():
    lines = [(i, b"junk") for i in range(1, 11)]
    batch = parse_lines(lines, "a.log", "text", LogOptions(max_examples_per_reason=4), {"no_request_id": 3})
    assert batch.reject_counts == {"no_request_id": 10}
    assert rejected(batch) == [(1, "no_request_id")]


def test_the_excerpt_is_the_first_200_characters_with_control_characters_escaped():
    line = "{" + "é\t\x1b" * 100
    excerpt = parse(line, fmt="jsonl").rejects["excerpt"][0]
    assert excerpt == ("{" + "é\\t\\x1b" * 100)[: len("{" + "é\\t\\x1b" * 66)] + "é"
    assert parse(b"\xff\x00abc", fmt="text").rejects["excerpt"][0] == "\ufffd\\x00abc"


def test_blank_lines_are_skipped_and_counted_not_rejected():
    batch = parse("", "   ", "\r\n", json_line(requestId=RID))
    assert batch.blank_lines == 3
    assert batch.reject_counts == {}
    assert_every_line_accounted_for(batch, 4)


def test_crlf_line_endings_and_trailing_newlines_are_stripped():
    row = only_row(parse(f"request_id={RID} msg=hi\r\n".encode(), fmt="logfmt"))
    assert orjson.loads(row["context"]) == {"msg": "hi"}


# --- hostile lines -------------------------------------------------------------------------------------


def ids(count: int, first: int = 0) -> list[str]:
    """`count` distinct documented-form request IDs, all of 2024-02-16."""
    return [f"{1708102555327 + n:013d}.AAAAAA" for n in range(first, first + count)]


def test_a_text_line_with_more_distinct_ids_than_the_limit_is_rejected_as_too_many_ids():
    batch = parse(
        " ".join(ids(3)),
        " ".join(ids(2)),
        " ".join(ids(1) * 50),  # one ID repeated is one request
        fmt="text",
        max_ids_per_line=2,
    )
    assert rejected(batch) == [(1, "too_many_ids")]
    assert batch.reject_counts == {"too_many_ids": 1}
    assert batch.occurrences.select("line_number", "request_id").rows() == [
        (2, ids(1)[0]),
        (2, ids(2)[1]),
        (3, ids(1)[0]),
    ]
    assert_every_line_accounted_for(batch, 3)


def test_the_default_limit_is_20_ids_per_line():
    batch = parse(" ".join(ids(20)), " ".join(ids(21)), fmt="text")
    assert batch.occurrences.height == 20
    assert rejected(batch) == [(2, "too_many_ids")]


def test_a_short_line_with_several_ids_gives_each_occurrence_the_whole_context():
    batch = parse(f"merged {RID} into {RID2} user=u1", fmt="text")
    assert batch.occurrences["context"].n_unique() == 1
    assert orjson.loads(batch.occurrences["context"][1])["user"] == "u1"


def test_a_long_line_with_several_ids_keeps_its_whole_context_once_and_an_excerpt_on_the_others():
    line = f"{RID} {RID2} user=u1 " + "x" * 2000
    batch = parse(line, fmt="text")
    first, second = (orjson.loads(c) for c in batch.occurrences["context"])
    assert first == {"message": line, "user": "u1"}
    assert second == {"message": line[:200], "context_truncated": True}
    assert batch.occurrences["app_user_id"].to_list() == ["u1", "u1"]


def dense_lines(lines: int, ids_per_line: int) -> list[bytes]:
    """Lines of ~65 KB, each a different run of distinct ID-shaped strings, as a dump or a crawler writes."""
    return [" ".join(ids(ids_per_line, n * ids_per_line)).encode() for n in range(lines)]


def test_parsing_lines_dense_with_ids_costs_memory_for_ids_plus_line_length_not_their_product():
    lines = dense_lines(10, 3100)  # 10 x 65 KB: with the line on each of 31,000 occurrences, 2.0 GB
    line_bytes = sum(len(x) for x in lines)
    options = LogOptions(max_line_bytes=128 * 1024, max_ids_per_line=5000)
    tracemalloc.start()
    try:
        batch = parse_lines(enumerate(lines, 1), "dump.log", "text", options)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batch.occurrences.height == 31_000
    # polars allocates outside tracemalloc's view, so the frame is measured by its own size: a function of
    # the data, the same on every machine. Each line is stored whole once, each further occurrence in ~300 B.
    assert batch.occurrences.estimated_size() < line_bytes + 31_000 * 400
    assert python_peak < line_bytes + 31_000 * 1024


def test_lines_dense_with_ids_cost_no_occurrence_and_one_counted_reject_each_by_default():
    batch = parse_lines(enumerate(dense_lines(10, 3100), 1), "dump.log", "text", LogOptions(max_line_bytes=128 * 1024))
    assert batch.occurrences.is_empty()
    assert batch.reject_counts == {"too_many_ids": 10}
    assert batch.rejects.estimated_size() < 10 * 1024


@pytest.mark.parametrize(
    ("fmt", "line"),
    [
        ("jsonl", b'{"ts": "2024-02-16T12:00:00Z", "requestId": "' + RID.encode() + b'", "user_id": "jos\xe9"}'),
        ("logfmt", b"ts=2024-02-16T12:00:00Z request_id=" + RID.encode() + b" user_id=jos\xe9"),
        ("text", b"2024-02-16T12:00:00Z INFO login fp=" + RID.encode() + b" user_id=jos\xe9"),
    ],
)
def test_one_latin1_byte_keeps_the_id_and_the_context_and_counts_invalid_utf8(fmt, line):
    batch = parse(line, fmt=fmt)
    row = only_row(batch)
    assert (row["request_id"], row["app_user_id"], row["occurred_at"]) == (RID, "jos\ufffd", NOON)
    assert rejected(batch) == [(1, "invalid_utf8")]
    assert batch.rejects["excerpt"][0].endswith("jos\ufffd" + ('"}' if fmt == "jsonl" else ""))
    assert_every_line_accounted_for(batch, 1)


def test_a_repaired_json_line_nested_too_deep_keeps_its_whole_line_as_valid_text():
    line = b'{"requestId": "' + RID.encode() + b'", "u": "\xe9", "deep": ' + b'{"d": ' * 300 + b"{}" + b"}" * 301
    row = only_row(parse(line, fmt="jsonl"))
    assert row["context"] == line.decode("utf-8", "replace")


def test_a_line_without_an_id_is_rejected_for_that_whatever_its_encoding():
    assert parse(b"caf\xe9 login", fmt="text").reject_counts == {"no_request_id": 1}


def test_a_line_mostly_of_bytes_that_are_not_utf8_is_binary_even_with_an_id():
    assert parse(b"\xff\xfe" * 12 + b" " + RID.encode(), fmt="text").reject_counts == {"binary": 1}


# --- schemas and options -------------------------------------------------------------------------------


def test_output_frames_have_the_documented_schemas_even_when_empty():
    for batch in (parse(), parse(json_line(requestId=RID), "{")):
        assert batch.occurrences.schema == OCCURRENCE_SCHEMA
        assert batch.rejects.schema == REJECT_SCHEMA


def test_every_column_and_every_reject_reason_is_documented():
    assert list(OCCURRENCE_COLUMNS) == list(OCCURRENCE_SCHEMA)
    assert list(REJECT_COLUMNS) == list(REJECT_SCHEMA)
    assert set(REJECT_REASONS) == {
        "malformed_json",
        "malformed_logfmt",
        "no_request_id",
        "invalid_request_id",
        "binary",
        "line_too_long",
        "bad_timestamp",
        "corrupt_gzip",
        "too_many_ids",
        "invalid_utf8",
        "sealed_no_keys",
        "sealed_malformed",
        "sealed_undecryptable",
        "sealed_not_event",
    }
    assert {"bad_timestamp", "invalid_utf8"} | {r for r in REJECT_REASONS if r.startswith("sealed_")} == KEPT_REASONS
    assert all(d.strip() for d in [*OCCURRENCE_COLUMNS.values(), *REJECT_COLUMNS.values()])


@pytest.mark.parametrize(
    "options",
    [{"format": "csv"}, {"request_id_pattern": "(unclosed"}, {"request_id_fields": ()}],
)
def test_invalid_options_are_refused_with_a_message(options):
    with pytest.raises(ValueError):
        LogOptions(**options)


def test_a_single_field_name_given_as_a_string_is_one_field():
    assert LogOptions(request_id_fields="rid").request_id_fields == ("rid",)


# --- properties ----------------------------------------------------------------------------------------

ANY_LINE = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=80).map(str.encode),
    st.sampled_from(
        [RID, LEGACY, "{", "ts=", '"', "\\", "=", " ", "\x00", NOON.isoformat(), f"{RID} {RID2} {RID3}"]
    ).map(str.encode),
    st.dictionaries(st.sampled_from(["requestId", "ts", "user_id", "fingerprint", "x"]), st.just(RID)).map(
        orjson.dumps
    ),
    # text and logfmt tokens: several IDs, pairs, quotes, timestamps, bytes that are not UTF-8
    st.lists(
        st.sampled_from([RID, RID2, RID3, "user=a", "ts=x", 't="1"', "x=\xe9", "\xff", "\x00", "\t", NOON.isoformat()]),
        max_size=8,
    ).map(lambda tokens: " ".join(tokens).encode("latin-1")),
)
SLOW_OK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW_OK
@given(lines=st.lists(ANY_LINE, max_size=12), fmt=st.sampled_from(["auto", "jsonl", "logfmt", "text"]))
def test_any_bytes_never_crash_the_batch_and_every_line_is_accounted_for(lines, fmt):
    batch = parse_lines(enumerate(lines, 1), "f.log", fmt, LogOptions(max_line_bytes=100, max_ids_per_line=2))
    assert batch.occurrences.schema == OCCURRENCE_SCHEMA
    assert batch.rejects.schema == REJECT_SCHEMA
    assert set(batch.reject_counts) <= set(REJECT_REASONS)
    assert_every_line_accounted_for(batch, len(lines))
    for context in batch.occurrences["context"]:
        assert isinstance(orjson.loads(context), dict)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=8,
)


@SLOW_OK
@given(
    fields=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5),
    name=st.sampled_from(DEFAULT_REQUEST_ID_FIELDS),
)
def test_any_json_object_with_a_valid_id_field_yields_that_occurrence(fields, name):
    fields = {k: v for k, v in fields.items() if k not in DEFAULT_REQUEST_ID_FIELDS and k != "fingerprint"}
    if "." in name:
        parent, key = name.split(".")
        fields[parent] = {key: RID}
    else:
        fields[name] = RID
    batch = parse(orjson.dumps(fields), fmt="jsonl")
    assert only_row(batch)["request_id"] == RID
    assert set(batch.reject_counts) <= KEPT_REASONS


# --- sealed client results ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed_event():
    """(request ID, base64 sealed result, event body) of one simulated event, sealed with SEALED_KEY."""
    population = Population(seed=5, events_per_day=300)
    rid = population.day_events(date(2026, 11, 20))[3][1]
    return rid, sealed_result(population, rid, SealedLogs(SEALED_KEY)), orjson.dumps(population.event_v3(rid))


def test_a_sealed_result_alone_on_a_line_gives_its_event_and_its_request_id(sealed_event):
    rid, sealed, body = sealed_event
    keys = SealedKeys([SEALED_KEY])
    for line in (
        json_line(ts="2026-11-20T10:00:00Z", user_id="u1", sealedResult=sealed),
        f"ts=2026-11-20T10:00:01Z user_id=u2 sealed_result={sealed}",
    ):
        batch = parse(line, sealed_keys=keys)
        assert only_row(batch)["request_id"] == rid and not batch.reject_counts
        assert batch.sealed["request_id"].to_list() == [rid] and batch.sealed["body"].to_list() == [body]
        assert batch.sealed["log_day"].to_list() == [date(2026, 11, 20)] and batch.sealed["api_version"][0] == 3
        assert "sealed" not in batch.occurrences["context"][0]  # the blob is the event, kept in bronze


def test_a_sealed_result_that_does_not_open_is_counted_and_the_logged_id_still_used(sealed_event):
    _, sealed, _ = sealed_event
    batch = parse(
        json_line(requestId=RID, sealedResult=sealed),  # wrong key, but an ID of its own: fetched as usual
        json_line(sealedResult=sealed),  # wrong key, nothing else: lost, counted twice (why, and that no ID)
        json_line(requestId=RID2, sealed_result="bm90IHNlYWxlZA=="),
        json_line(requestId=RID3, sealedResult=12),
        sealed_keys=SealedKeys([bytes(32)]),
        fmt="jsonl",
    )
    assert batch.occurrences["request_id"].to_list() == [RID, RID2, RID3] and batch.sealed.is_empty()
    assert batch.reject_counts == {"sealed_undecryptable": 2, "no_request_id": 1, "sealed_malformed": 2}
    assert_every_line_accounted_for(batch, 4)
    assert parse(json_line(requestId=RID, sealedResult=sealed)).reject_counts == {"sealed_no_keys": 1}


def test_a_sealed_result_beside_its_request_id_is_one_occurrence(sealed_event):
    rid, sealed, _ = sealed_event
    batch = parse(json_line(requestId=rid, sealedResult=sealed), sealed_keys=SealedKeys([SEALED_KEY]))
    assert only_row(batch)["request_id"] == rid and batch.sealed["request_id"].to_list() == [rid]
