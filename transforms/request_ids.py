"""Fingerprint request IDs: their formats, their epoch-millisecond prefix, and the UTC day that prefix falls on.

One module, because the log reader (which IDs to take from a line), the fetch strategy (which window of the
events search holds an ID) and the client (how old an event is, for the retention check) all reason about
the same string, and must agree on it.

- The documented form is 13 digits of epoch milliseconds, a dot and 6 letters or digits
  (`1708102555327.NLOjmg`, `REQUEST_ID_PATTERN`). The prefix is the time the identification was requested,
  within a few hundred milliseconds of the event's own timestamp, which is what makes it a partition hint.
- The legacy form is 20 letters or digits. In free text it cannot be told apart from a visitor ID or any
  other token, so it is accepted only from a field that names it (`is_named_field_request_id`); it has no
  time prefix, so its day is unknown (None).
- `DEFAULT_TEXT_PATTERN` finds documented IDs anywhere in free text, between word boundaries.
All patterns are ASCII: Python's `\\d` would also match Arabic-Indic and other Unicode digits.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import polars as pl

DAY_MS = 86_400_000
REQUEST_ID_PATTERN = r"^\d{13}\.[A-Za-z0-9]{6}$"
LEGACY_REQUEST_ID_PATTERN = r"^[A-Za-z0-9]{20}$"
DEFAULT_TEXT_PATTERN = r"\b\d{13}\.[A-Za-z0-9]{6}\b"

# fullmatch, because `$` also matches before a trailing newline and a line's "ID\n" is no ID.
_DOCUMENTED = re.compile(REQUEST_ID_PATTERN, re.ASCII)
_NAMED_FIELD = re.compile(f"{REQUEST_ID_PATTERN}|{LEGACY_REQUEST_ID_PATTERN}", re.ASCII)
# polars' regex engine (Rust) reads `\d` as any Unicode digit too, and has no ASCII flag for one pattern.
_POLARS_PATTERN = r"^[0-9]{13}\.[A-Za-z0-9]{6}$"
_PREFIX_DIGITS = 13


def is_request_id(value: str) -> bool:
    """Whether `value` is a documented-form request ID (the only form trusted in free text)."""
    return _DOCUMENTED.fullmatch(value) is not None


def is_named_field_request_id(value: str) -> bool:
    """Whether `value` is a request ID of either form, as accepted from a field named for it."""
    return _NAMED_FIELD.fullmatch(value) is not None


def prefix_ms(request_id: str) -> int | None:
    """The epoch milliseconds an ID's prefix holds, or None for a legacy ID or anything not a request ID."""
    return int(request_id[:_PREFIX_DIGITS]) if is_request_id(request_id) else None


def utc_day(request_id: str) -> date | None:
    """The UTC day of an ID's prefix (the day its event was most likely logged), or None without one."""
    ms = prefix_ms(request_id)
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).date()


def day_start_ms(day: date) -> int:
    """Epoch milliseconds of `day`'s UTC midnight: IDs of that day have prefixes in [start, start + DAY_MS)."""
    return (day - date(1970, 1, 1)).days * DAY_MS


def utc_day_expr(request_id: str | pl.Expr = "request_id") -> pl.Expr:
    """`utc_day` as a polars expression over a String column (a name or an expression); null without a day."""
    column = pl.col(request_id) if isinstance(request_id, str) else request_id
    prefix = column.str.slice(0, _PREFIX_DIGITS).cast(pl.Int64, strict=False)
    return pl.when(column.str.contains(_POLARS_PATTERN)).then(pl.from_epoch(prefix, time_unit="ms").dt.date())
