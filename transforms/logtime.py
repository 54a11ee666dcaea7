"""Timestamps as applications write them in logs, parsed to naive UTC datetimes.

ISO 8601 with or without fraction and offset (naive means UTC), epoch seconds/ms/us/ns as numbers or numeric
strings (the unit is told by the magnitude), and Common Log Format `[10/Oct/2000:13:55:36 -0700]`. A value
that is present but unparseable is `BAD`, distinct from absent (None), so the reader can count it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any


class Bad:
    """Marks a timestamp that is present but unparseable (None means absent)."""


BAD = Bad()
_EPOCH = datetime(1970, 1, 1)
_NUMERIC = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_CLF = re.compile(
    r"\[?([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})"  # day/Mon/year:hh:mm:ss
    r"(?:\s*([+-][0-9]{4}))?\]?"
)
TEXT_TIMESTAMP = re.compile(
    r"(?<![0-9])([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?:Z\b|\s?[+-][0-9]{2}(?::?[0-9]{2})?\b)?)"
    r"|(\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}(?: [+-][0-9]{4})?\])",
    re.ASCII,
)


def parse_timestamp(value: Any) -> datetime | Bad | None:
    """A log timestamp as a naive UTC datetime; None if absent (null, ""), `BAD` if unparseable."""
    kind = type(value)
    if kind is str:
        return timestamp_from_text(value.strip()) if value else None
    if kind is int or kind is float:
        return _from_epoch(value)
    return None if value is None else BAD


def timestamp_from_text(text: str) -> datetime | Bad | None:
    if not text:
        return None
    if text[4:5] != "-":  # not the common ISO 8601 extended form: an epoch number, CLF or ISO basic
        if _NUMERIC.fullmatch(text):
            return _from_epoch(float(text) if "." in text else int(text))
        if "/" in text:
            return _from_clf(text)
    try:
        if text[-1] == "Z":  # the common UTC case, parsed naive to skip a time zone conversion
            stamp = datetime.fromisoformat(text[:-1])
            return stamp if stamp.tzinfo is None else BAD
        stamp = datetime.fromisoformat(text[:-4] if text.endswith((" UTC", " GMT")) else text)
        offset = stamp.utcoffset()
        return stamp if offset is None else (stamp - offset).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return BAD


def _from_epoch(number: float) -> datetime | Bad:
    size = abs(number)
    scale = 1_000_000 if size < 1e11 else 1000 if size < 1e14 else 1 if size < 1e17 else 0.001
    try:
        return _EPOCH + timedelta(microseconds=round(number * scale))
    except (OverflowError, ValueError):
        return BAD


def _from_clf(text: str) -> datetime | Bad:
    match = _CLF.fullmatch(text)
    month = _MONTHS.get(match.group(2).lower()) if match else None
    if match is None or month is None:
        return BAD
    day, _, year, hour, minute, second, offset = match.groups()
    try:
        stamp = datetime(int(year), month, int(day), int(hour), int(minute), int(second))
        if offset:
            sign = -1 if offset[0] == "-" else 1
            stamp -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    except (ValueError, OverflowError):
        return BAD
    return stamp
