"""Application-log lines in, request ID occurrences and counted rejects out (JSON lines, logfmt, text).

Customers' applications log the Fingerprint `requestId` of each login, signup or checkout. This module turns
raw lines (bytes, as `pipelines/logs.py` reads them) into one typed row per occurrence, with the line's own
timestamp and fields as context, and one counted reject per line it cannot use. Nothing here touches files.

Decisions a data engineer may look for:
- A naive timestamp (no offset, no `Z`) is taken as UTC. Epoch numbers are read as s, ms, µs or ns by size.
- `bad_timestamp` and `invalid_utf8` do not drop their line (`KEPT_REASONS`): with `bad_timestamp` the
  occurrence is kept with a null `occurred_at` (its `log_day` then comes from the request ID) and the unparsed
  value stays in `context`. Both are still counted and exampled in the rejects, because an unrecognised
  timestamp format or a wrong encoding is a problem with the whole file that counts by reason make visible.
- Blank (whitespace-only) lines are skipped and counted in `ParsedBatch.blank_lines`, not rejected. So for
  every batch: lines == blank_lines + lines with an occurrence + rejects of reasons not in KEPT_REASONS.
- A text line may hold several request IDs: each distinct one is an occurrence (same line number). Its context
  is stored whole once: further occurrences of a line whose context is over 1 KB carry a 200-character excerpt
  (`"context_truncated": true`), so memory grows with IDs + line length, never IDs x line length. A line with
  more than `max_ids_per_line` distinct IDs is a dump or a list, not a request: it is rejected (`too_many_ids`)
  before it costs an API call per ID.
- Text lines keep their `key=value` pairs (`user=alice outcome=failure`) as logfmt lines do: the same promoted
  columns, the pairs in `context` beside the whole line as `message`.
- A line with bytes that are not UTF-8 is decoded with replacement characters and kept (`invalid_utf8`, counted
  like `bad_timestamp`), so one Latin-1 byte in a user name does not lose the request ID. Only lines that are
  binary (NUL bytes, or at least 30% control or undecodable characters) are rejected as `binary`.
- Rejects are counted in full, but at most `max_examples_per_reason` rows per reason and file are stored.
- A JSON or logfmt line may carry a sealed client result (`sealed_fields`) instead of, or beside, a request ID.
  Opened with `sealed_keys` (`transforms.sealed`), its event is returned in `ParsedBatch.sealed` (it costs no
  API call) and its request ID is the line's occurrence when the line logs none. A result that cannot be opened
  is counted by its reason (`sealed_*`, kept reasons: they never drop a line by themselves); a line left with no
  request ID at all is then also rejected as `no_request_id`. The sealed value is left out of `context`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import orjson
import polars as pl

from transforms.logfmt import logfmt_fields, looks_like_logfmt, text_pairs
from transforms.logtime import BAD, TEXT_TIMESTAMP, Bad, parse_timestamp, timestamp_from_text
from transforms.request_ids import DEFAULT_TEXT_PATTERN, is_named_field_request_id, is_request_id, utc_day_expr
from transforms.sealed import REASONS as SEALED_REASONS
from transforms.sealed import SealedKeys, Unsealed, unseal_base64

LogFormat = Literal["jsonl", "logfmt", "text"]
FORMATS: tuple[str, ...] = ("jsonl", "logfmt", "text")

OCCURRENCE_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "occurred_at": pl.Datetime("us", "UTC"),
        "log_day": pl.Date(),
        "source_file": pl.String(),
        "line_number": pl.Int64(),
        "log_format": pl.String(),
        "app_user_id": pl.String(),
        "action": pl.String(),
        "outcome": pl.String(),
        "context": pl.String(),
    }
)
OCCURRENCE_COLUMNS: dict[str, str] = {
    "request_id": "Fingerprint request ID found on the line (one row per occurrence, duplicates kept).",
    "occurred_at": "The line's own timestamp in UTC (naive values are UTC); null if absent or unparseable.",
    "log_day": "UTC date of `occurred_at`; without it, the date of the request ID's 13-digit epoch-ms "
    "prefix (null for a legacy 20-character ID).",
    "source_file": "Path of the log file the line was read from.",
    "line_number": "1-based line number in `source_file` (after decompression for .gz files).",
    "log_format": "How the line was read: `jsonl`, `logfmt` or `text`.",
    "app_user_id": "The application's user, from user_id/userId/user/account_id/accountId/uid.",
    "action": "What the user did, from action/event/event_type/type.",
    "outcome": "How it ended, from outcome/result/status.",
    "context": "JSON object: every field of the line except the request ID, the parsed timestamp and a sealed result "
    '(promoted fields included, nested values kept); for text lines `{"message": <line>}` plus the line\'s '
    "`key=value` pairs. Further occurrences of a text line holding several IDs carry a 200-character excerpt "
    'and `"context_truncated": true` when the whole context is over 1 KB.',
}

REJECT_SCHEMA = pl.Schema(
    {"source_file": pl.String(), "line_number": pl.Int64(), "reason": pl.String(), "excerpt": pl.String()}
)
REJECT_COLUMNS: dict[str, str] = {
    "source_file": "Path of the log file the line was read from.",
    "line_number": "1-based line number of the rejected line (for `corrupt_gzip`, the first line lost).",
    "reason": "Why the line was not used: one of `REJECT_REASONS`.",
    "excerpt": "First 200 characters of the line, decoded with replacement, control characters escaped.",
}
REJECT_REASONS: dict[str, str] = {
    "malformed_json": "Not a JSON object, in a file read as JSON lines.",
    "malformed_logfmt": "Not key=value pairs (unterminated quote, no pair at all), in a logfmt file.",
    "no_request_id": "No request ID field (JSON/logfmt), or no match of the pattern (text).",
    "invalid_request_id": "A request ID field (or pattern match) whose value is not a valid request ID.",
    "binary": "Contains NUL bytes, or at least 30% control characters or bytes that are not UTF-8.",
    "line_too_long": "Longer than `max_line_bytes`; read past in chunks, never loaded whole.",
    "bad_timestamp": "A timestamp field is present but unparseable; the occurrence is still kept.",
    "corrupt_gzip": "The gzip stream is damaged or truncated; the lines after this point are lost.",
    "too_many_ids": "A text line holding more distinct request IDs than `max_ids_per_line` (a dump, not a "
    "request): none of them is fetched.",
    "invalid_utf8": "Some bytes are not UTF-8; they are replaced with U+FFFD and the occurrence is still kept.",
    **SEALED_REASONS,
}
KEPT_REASONS = frozenset({"bad_timestamp", "invalid_utf8", *SEALED_REASONS})
# The events opened from sealed results: the bodies bronze lands (method `sealed`), by the line's log day.
SEALED_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "occurred_at": pl.Datetime("us", "UTC"),
        "log_day": pl.Date(),
        "api_version": pl.Int8(),
        "body": pl.Binary(),
    }
)
DEFAULT_SEALED_FIELDS: tuple[str, ...] = ("sealedResult", "sealed_result")

DEFAULT_REQUEST_ID_FIELDS: tuple[str, ...] = (
    "requestId",
    "request_id",
    "fingerprint_request_id",
    "fpRequestId",
    "fp_request_id",
    "fingerprintRequestId",
    "fingerprint.requestId",
    "fingerprint.request_id",
)
DEFAULT_REQUEST_ID_PATTERN = DEFAULT_TEXT_PATTERN
TIMESTAMP_FIELDS = ("ts", "timestamp", "time", "@timestamp", "datetime", "date", "t")
USER_FIELDS = ("user_id", "userId", "user", "account_id", "accountId", "uid")
ACTION_FIELDS = ("action", "event", "event_type", "type")
OUTCOME_FIELDS = ("outcome", "result", "status")

_SAMPLE_LINES = 20
_EXCERPT_CHARS = 200
# A context up to this size is repeated on every occurrence of its line; a bigger one is stored whole once.
_SHARED_CONTEXT_BYTES = 1024


@dataclass(frozen=True, slots=True)
class LogOptions:
    """How to read application logs.

    `request_id_fields`: JSON/logfmt keys tried in order; the first holding a valid ID wins, so a generic
    `request_id` carrying the web framework's own request UUID does not hide `fpRequestId` on the same line.
    A dotted name is tried as a literal key, then as a path into nested JSON objects.
    `request_id_pattern`: regex for text lines (ASCII mode; its first group if it has one, else the match);
    whatever it matches must still be a documented-format request ID.
    `max_line_bytes`: longer lines are rejected as `line_too_long` (the file reader never loads them whole).
    `format`: `auto` detects each file's format from its first non-blank lines.
    `max_examples_per_reason`: reject rows stored per reason and file; every reject is counted regardless.
    `max_ids_per_line`: a text line with more distinct request IDs is rejected as `too_many_ids`: real
    requests log one ID, or a handful (a merge, a retry chain); thousands on one line are a dump whose IDs
    would each cost an API call.
    `sealed_fields`: JSON/logfmt keys that may hold a sealed client result (base64); `sealed_keys` open it
    (None: such a result is counted as `sealed_no_keys`).
    """

    request_id_fields: tuple[str, ...] = DEFAULT_REQUEST_ID_FIELDS
    request_id_pattern: str = DEFAULT_REQUEST_ID_PATTERN
    max_line_bytes: int = 64 * 1024
    format: Literal["auto", "jsonl", "logfmt", "text"] = "auto"
    max_examples_per_reason: int = 1000
    max_ids_per_line: int = 20
    sealed_fields: tuple[str, ...] = DEFAULT_SEALED_FIELDS
    sealed_keys: SealedKeys | None = None

    def __post_init__(self) -> None:
        for name in ("request_id_fields", "sealed_fields"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.request_id_fields:
            raise ValueError("request_id_fields is empty: name at least one field holding the request ID")
        if self.format not in ("auto", *FORMATS):
            raise ValueError(f"log format {self.format!r} is not one of auto, jsonl, logfmt, text")
        if self.max_line_bytes < 1 or self.max_examples_per_reason < 0:
            raise ValueError("max_line_bytes must be positive and max_examples_per_reason not negative")
        if self.max_ids_per_line < 1:
            raise ValueError(f"max_ids_per_line must be at least 1 (got {self.max_ids_per_line})")
        try:
            re.compile(self.request_id_pattern, re.ASCII)
        except re.error as exc:
            raise ValueError(f"request_id_pattern {self.request_id_pattern!r} is no regex: {exc}") from None


DEFAULT_OPTIONS = LogOptions()


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """Occurrences and rejects of a run of lines from one file, with every reject counted by reason."""

    occurrences: pl.DataFrame
    rejects: pl.DataFrame
    reject_counts: dict[str, int]
    lines: int = 0
    blank_lines: int = 0
    sealed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SEALED_SCHEMA))


@dataclass(frozen=True, slots=True)
class _Rules:
    id_fields: tuple[tuple[str, tuple[str, ...] | None], ...]
    pattern: re.Pattern[str]
    max_ids: int
    matches_are_ids: bool  # the default pattern matches documented IDs only: no need to check each match
    sealed_fields: tuple[str, ...]
    sealed_keys: SealedKeys | None


@lru_cache(maxsize=32)
def _rules(options: LogOptions) -> _Rules:
    fields = tuple((f, tuple(f.split(".")) if "." in f else None) for f in options.request_id_fields)
    pattern = re.compile(options.request_id_pattern, re.ASCII)
    default = options.request_id_pattern == DEFAULT_TEXT_PATTERN
    return _Rules(fields, pattern, options.max_ids_per_line, default, options.sealed_fields, options.sealed_keys)


_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def excerpt(raw: bytes) -> str:
    """The first 200 characters of a line, readable whatever its bytes (errors replaced, controls escaped)."""
    # 4 bytes per character at most, so 800 bytes always hold the first 200 whole characters.
    return raw[: 4 * _EXCERPT_CHARS].decode("utf-8", "replace")[:_EXCERPT_CHARS].translate(_ESCAPES)


def _decode(raw: bytes) -> tuple[str | None, bool]:
    """The line as text (None if it is binary) and whether bytes that are not UTF-8 were replaced.

    Binary: a NUL byte, or at least 30% control characters and replaced bytes. A few bad bytes are an
    encoding slip (a Latin-1 name in a UTF-8 log) in a line that still carries its request ID.
    """
    try:
        text, repaired = raw.decode(), False
    except UnicodeDecodeError:
        text, repaired = raw.decode("utf-8", "replace"), True
    if "\x00" in text:
        return None, repaired
    bad = 0 if text.isprintable() else len(_CONTROL.findall(text))
    if repaired:
        bad += text.count("\ufffd")
    return (None if bad * 10 >= len(text) * 3 else text), repaired


class _Builder:
    """Column lists of one batch's occurrences, reject examples (capped per reason) and reject counts."""

    def __init__(self, options: LogOptions, examples_seen: Mapping[str, int] | None) -> None:
        self.request_ids: list[str] = []
        self.times: list[datetime | None] = []
        self.line_numbers: list[int] = []
        self.users: list[str | None] = []
        self.actions: list[str | None] = []
        self.outcomes: list[str | None] = []
        self.contexts: list[bytes] = []
        self.counts: dict[str, int] = {}
        self.examples: list[tuple[int, str, str]] = []
        self.sealed: list[tuple[str, datetime | None, int, bytes]] = []
        self.seen = examples_seen or {}
        self.cap = options.max_examples_per_reason

    def add(self, line_number: int, request_id: str, when: datetime | None, fields: dict, ctx: bytes) -> None:
        self.request_ids.append(request_id)
        self.times.append(when)
        self.line_numbers.append(line_number)
        if fields:
            self.users.append(_promoted(fields, USER_FIELDS))
            self.actions.append(_promoted(fields, ACTION_FIELDS))
            self.outcomes.append(_promoted(fields, OUTCOME_FIELDS))
        else:
            self.users.append(None)
            self.actions.append(None)
            self.outcomes.append(None)
        self.contexts.append(ctx)

    def reject(self, line_number: int, reason: str, raw: bytes) -> None:
        count = self.counts[reason] = self.counts.get(reason, 0) + 1
        if count + self.seen.get(reason, 0) <= self.cap:
            self.examples.append((line_number, reason, excerpt(raw)))

    def finish(self, source_file: str, fmt: str, lines: int, blank: int) -> ParsedBatch:
        occurrences = pl.DataFrame(
            {
                "request_id": pl.Series(self.request_ids, dtype=pl.String),
                # Naive datetimes convert to polars several times faster than aware ones.
                "occurred_at": pl.Series(self.times, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC"),
                "line_number": pl.Series(self.line_numbers, dtype=pl.Int64),
                "app_user_id": pl.Series(self.users, dtype=pl.String),
                "action": pl.Series(self.actions, dtype=pl.String),
                "outcome": pl.Series(self.outcomes, dtype=pl.String),
                "context": pl.Series(self.contexts, dtype=pl.Binary).cast(pl.String),
            }
        ).with_columns(
            source_file=pl.lit(source_file, pl.String),
            log_format=pl.lit(fmt, pl.String),
            log_day=_LOG_DAY,
        )
        rejects = pl.DataFrame(
            self.examples,
            schema={"line_number": pl.Int64, "reason": pl.String, "excerpt": pl.String},
            orient="row",
        ).with_columns(source_file=pl.lit(source_file, pl.String))
        return ParsedBatch(
            occurrences=occurrences.select(list(OCCURRENCE_SCHEMA)).cast(OCCURRENCE_SCHEMA),
            rejects=rejects.select(list(REJECT_SCHEMA)).cast(REJECT_SCHEMA),
            reject_counts=dict(self.counts),
            lines=lines,
            blank_lines=blank,
            sealed=self._sealed_frame(),
        )

    def _sealed_frame(self) -> pl.DataFrame:
        if not self.sealed:
            return pl.DataFrame(schema=SEALED_SCHEMA)
        rids, times, versions, bodies = zip(*self.sealed, strict=True)
        frame = pl.DataFrame(
            {
                "request_id": pl.Series(rids, dtype=pl.String),
                "occurred_at": pl.Series(times, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC"),
                "api_version": pl.Series(versions, dtype=pl.Int8),
                "body": pl.Series(bodies, dtype=pl.Binary),
            }
        )
        return frame.with_columns(log_day=_LOG_DAY).select(list(SEALED_SCHEMA))


_LOG_DAY = pl.coalesce(pl.col("occurred_at").dt.date(), utc_day_expr("request_id"))


def _promoted(fields: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name)
        kind = type(value)
        if kind is str and value:
            return value
        if kind is int or kind is float:
            return str(value)
    return None


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def _take_request_id(fields: dict, rules: _Rules) -> tuple[str | None, str]:
    """Remove the first valid request ID field and return (its value, ""), or (None, the reject reason)."""
    reason = "no_request_id"
    for key, path in rules.id_fields:
        value, nested = fields.get(key), False
        if value is None and path is not None:
            value, nested = _dig(fields, path), True
        if value is None or value == "":
            continue
        if type(value) is not str or not is_named_field_request_id(value):
            reason = "invalid_request_id"
            continue
        if not nested:
            del fields[key]
            return value, ""
        parent = _dig(fields, path[:-1])
        del parent[path[-1]]
        if not parent and len(path) == 2:
            del fields[path[0]]
        return value, ""
    return None, reason


def _timestamp_field(fields: dict) -> tuple[str | None, datetime | Bad | None]:
    """The first timestamp field present and parsed (`BAD` if unparseable), or (None, None)."""
    for key in TIMESTAMP_FIELDS:
        value = fields.get(key)
        if value is None:
            continue
        when = parse_timestamp(value)
        if when is not None:
            return key, when
    return None, None


def _take_timestamp(fields: dict) -> tuple[datetime | None, bool]:
    """The line's timestamp (removed from `fields` once parsed) and whether it was present but bad."""
    key, when = _timestamp_field(fields)
    if when is BAD:
        return None, True
    if key is not None:
        del fields[key]
    return when, False


def _dumps(fields: dict, raw: bytes) -> bytes:
    try:
        return orjson.dumps(fields)
    except orjson.JSONEncodeError:
        # Nested deeper than orjson writes (255 levels): keep the whole line, which is JSON, repaired to
        # valid UTF-8 if it was not (the context column is text).
        return raw.decode("utf-8", "replace").encode()


def _take_sealed(b: _Builder, line_number: int, raw: bytes, fields: dict, rules: _Rules) -> Unsealed | None:
    """Remove a sealed result field and open it; a result that does not open is counted by its reason."""
    for name in rules.sealed_fields:
        value = fields.get(name)
        if value is None or value == "":
            continue
        del fields[name]
        opened = unseal_base64(value, rules.sealed_keys) if type(value) is str else "sealed_malformed"
        if isinstance(opened, str):
            b.reject(line_number, opened, raw)
            return None
        return opened
    return None


def _add_fields(b: _Builder, line_number: int, raw: bytes, fields: dict, rules: _Rules, repaired: bool) -> None:
    """One occurrence from a JSON or logfmt line's fields; `repaired` if its bytes were not all UTF-8."""
    sealed = _take_sealed(b, line_number, raw, fields, rules) if rules.sealed_fields else None
    request_id, reason = _take_request_id(fields, rules)
    if request_id is None and sealed is not None:
        request_id = sealed.request_id
    if request_id is None:
        b.reject(line_number, reason, raw)
        return
    when, bad = _take_timestamp(fields)
    if bad:
        b.reject(line_number, "bad_timestamp", raw)
    if repaired:
        b.reject(line_number, "invalid_utf8", raw)
    if sealed is not None:
        b.sealed.append((sealed.request_id, when, sealed.api_version, sealed.body))
    b.add(line_number, request_id, when, fields, _dumps(fields, raw))


def _parse_json_line(b: _Builder, line_number: int, raw: bytes, rules: _Rules) -> None:
    repaired = False
    try:
        fields = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text, repaired = _decode(raw)
        if text is None or not repaired:
            b.reject(line_number, "binary" if text is None else "malformed_json", raw)
            return
        try:
            fields = orjson.loads(text)  # the repaired text: one bad byte must not cost the line
        except orjson.JSONDecodeError:
            b.reject(line_number, "malformed_json", raw)
            return
    if type(fields) is not dict:
        b.reject(line_number, "malformed_json", raw)
        return
    _add_fields(b, line_number, raw, fields, rules, repaired)


def _parse_logfmt_line(b: _Builder, line_number: int, raw: bytes, rules: _Rules) -> None:
    text, repaired = _decode(raw)
    if text is None:
        b.reject(line_number, "binary", raw)
        return
    parsed = logfmt_fields(text)
    if parsed is None or parsed[1] == 0:
        b.reject(line_number, "malformed_logfmt", raw)
        return
    _add_fields(b, line_number, raw, parsed[0], rules, repaired)


def _text_request_ids(text: str, rules: _Rules) -> tuple[list[str], str]:
    """The distinct valid request IDs of a text line in order, or ([], the reject reason)."""
    pattern = rules.pattern
    found = [m.group(1) for m in pattern.finditer(text)] if pattern.groups > 1 else pattern.findall(text)
    if not found:
        return [], "no_request_id"
    if len(found) == 1 and rules.matches_are_ids:
        return found, ""
    valid: dict[str, None] = {}
    for value in found:
        if value and value not in valid and is_request_id(value):
            valid[value] = None
            if len(valid) > rules.max_ids:
                return [], "too_many_ids"
    return (list(valid), "") if valid else ([], "invalid_request_id")


def _text_timestamp(text: str, pairs: dict[str, str]) -> datetime | Bad | None:
    """The first ISO or CLF timestamp on the line (the free-text prefix's, usually), else a `ts=`-like pair."""
    stamp = TEXT_TIMESTAMP.search(text)
    if stamp is not None:
        return timestamp_from_text(stamp.group(1) or stamp.group(2))
    return _timestamp_field(pairs)[1] if pairs else None


def _text_context(text: str, pairs: dict[str, str]) -> bytes:
    """`{"message": <line>, <pairs>...}`; the line wins over a pair named `message`, since it holds it."""
    if not pairs:
        return orjson.dumps({"message": text})
    context = {"message": text, **pairs}
    context["message"] = text
    return orjson.dumps(context)


def _parse_text_line(b: _Builder, line_number: int, raw: bytes, rules: _Rules) -> None:
    text, repaired = _decode(raw)
    if text is None:
        b.reject(line_number, "binary", raw)
        return
    request_ids, reason = _text_request_ids(text, rules)
    if reason:
        b.reject(line_number, reason, raw)
        return
    pairs = text_pairs(text)
    when = _text_timestamp(text, pairs)
    if when is BAD:
        when = None
        b.reject(line_number, "bad_timestamp", raw)
    if repaired:
        b.reject(line_number, "invalid_utf8", raw)
    context = _text_context(text, pairs)
    b.add(line_number, request_ids[0], when, pairs, context)
    if len(request_ids) > 1:
        # Each further occurrence would copy the whole context: past a small size, point back to the first.
        shared = context if len(context) <= _SHARED_CONTEXT_BYTES else _truncated_context(text)
        for request_id in request_ids[1:]:
            b.add(line_number, request_id, when, pairs, shared)


def _truncated_context(text: str) -> bytes:
    return orjson.dumps({"message": text[:_EXCERPT_CHARS], "context_truncated": True})


_PARSERS = {"jsonl": _parse_json_line, "logfmt": _parse_logfmt_line, "text": _parse_text_line}


def detect_format(sample: list[bytes]) -> LogFormat:
    """Guess a file's format from its first non-empty lines: `jsonl` or `logfmt` if at least half of
    them look so (JSON first), else `text` (also for an empty sample: the regex reads anything)."""
    lines = [raw.strip() for raw in sample]
    lines = [raw for raw in lines if raw]
    if not lines:
        return "text"
    json_votes = sum(1 for raw in lines if raw[:1] == b"{")
    if 2 * json_votes >= len(lines):
        return "jsonl"
    logfmt_votes = sum(1 for raw in lines if _looks_like_logfmt(raw))
    return "logfmt" if 2 * logfmt_votes >= len(lines) else "text"


def _looks_like_logfmt(raw: bytes) -> bool:
    text, _ = _decode(raw)
    return text is not None and looks_like_logfmt(text)


def parse_lines(
    lines: Iterable[tuple[int, bytes]],
    source_file: str,
    fmt: str,
    options: LogOptions = DEFAULT_OPTIONS,
    examples_seen: Mapping[str, int] | None = None,
) -> ParsedBatch:
    """Parse numbered raw lines (a trailing newline is allowed) of one file in format `fmt`.

    `fmt="auto"` detects the format from these lines. `examples_seen` counts the reject examples already
    stored per reason for this file by earlier batches, so the per-file cap holds across batches.
    """
    if fmt == "auto":
        lines = list(lines)
        fmt = detect_format([raw for _, raw in lines[: 4 * _SAMPLE_LINES]][:_SAMPLE_LINES])
    if fmt not in _PARSERS:
        raise ValueError(f"log format {fmt!r} is not one of auto, jsonl, logfmt, text")
    parse_line, rules, limit = _PARSERS[fmt], _rules(options), options.max_line_bytes
    b = _Builder(options, examples_seen)
    count = blank = 0
    for line_number, line in lines:
        count += 1
        raw = line.rstrip(b"\r\n")
        if len(raw) > limit:
            b.reject(line_number, "line_too_long", raw)
        elif not raw or raw.isspace():
            blank += 1
        else:
            parse_line(b, line_number, raw, rules)
    return b.finish(source_file, fmt, count, blank)


def reject_batch(source_file: str, line_number: int, reason: str, detail: str) -> ParsedBatch:
    """A batch holding a single reject, for failures found outside a line (e.g. a corrupt gzip stream)."""
    if reason not in REJECT_REASONS:
        raise ValueError(f"unknown reject reason {reason!r}")
    rejects = pl.DataFrame(
        [(source_file, line_number, reason, excerpt(detail.encode()))], schema=REJECT_SCHEMA, orient="row"
    )
    return ParsedBatch(pl.DataFrame(schema=OCCURRENCE_SCHEMA), rejects, {reason: 1})
