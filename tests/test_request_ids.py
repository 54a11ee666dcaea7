"""Specifications of request IDs: the two forms, the epoch-ms prefix and the UTC day it falls on."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.request_ids import (
    DAY_MS,
    DEFAULT_TEXT_PATTERN,
    day_start_ms,
    is_named_field_request_id,
    is_request_id,
    prefix_ms,
    utc_day,
    utc_day_expr,
)

RID = "1708102555327.NLOjmg"  # 2024-02-16T16:55:55.327Z
LEGACY = "0KSh65EnVoB85JBmloQK"
NOT_IDS = [
    "",
    "1708102555327.NLOjm",  # 5 characters after the dot
    "1708102555327-NLOjmg",
    "170810255532.NLOjmgx",  # 12 digits
    f"{RID}\n",  # `$` would accept this one
    f" {RID}",
    "\u0661" * 13 + ".NLOjmg",  # Arabic-Indic digits are digits to Python's and Rust's \d
    "1708102555327.NLOjm\u00e9",
]


def test_the_documented_form_is_a_request_id_anywhere():
    assert is_request_id(RID)
    assert is_named_field_request_id(RID)


def test_the_legacy_form_is_a_request_id_only_from_a_named_field():
    assert is_named_field_request_id(LEGACY)
    assert not is_request_id(LEGACY)
    assert prefix_ms(LEGACY) is None
    assert utc_day(LEGACY) is None


@pytest.mark.parametrize("value", NOT_IDS)
def test_near_misses_are_no_request_id_in_either_form(value):
    assert not is_request_id(value)
    assert not is_named_field_request_id(value)
    assert prefix_ms(value) is None


def test_the_prefix_is_the_epoch_milliseconds_and_gives_the_utc_day():
    assert prefix_ms(RID) == 1708102555327
    assert utc_day(RID) == date(2024, 2, 16)
    assert utc_day("1708127999999.AAAAAA") == date(2024, 2, 16)  # 23:59:59.999
    assert utc_day("1708128000000.AAAAAA") == date(2024, 2, 17)  # midnight starts the next day


def test_a_day_holds_the_prefixes_from_its_midnight_for_one_day_of_milliseconds():
    start = day_start_ms(date(2024, 2, 16))
    assert start == int(datetime(2024, 2, 16, tzinfo=UTC).timestamp() * 1000)
    assert int(timedelta(days=1).total_seconds() * 1000) == DAY_MS
    assert utc_day(f"{start:013d}.AAAAAA") == date(2024, 2, 16)
    assert utc_day(f"{start + DAY_MS - 1:013d}.AAAAAA") == date(2024, 2, 16)
    assert utc_day(f"{start + DAY_MS:013d}.AAAAAA") == date(2024, 2, 17)


def test_the_default_text_pattern_finds_documented_ids_between_word_boundaries_only():
    text = f"fp={RID} visitor {LEGACY} x{RID} {RID}x 1{RID} ({RID})"
    assert re.findall(DEFAULT_TEXT_PATTERN, text, re.ASCII) == [RID, RID]


def test_the_polars_expression_gives_the_same_day_as_the_python_function():
    values = [RID, LEGACY, "1708128000000.AAAAAA", None, *NOT_IDS]
    frame = pl.DataFrame({"request_id": values}, schema={"request_id": pl.String})
    days = frame.select(utc_day_expr()).to_series().to_list()
    assert days == [None if v is None else utc_day(v) for v in values]
    assert days[:3] == [date(2024, 2, 16), None, date(2024, 2, 17)]


def test_the_polars_expression_takes_a_column_name_or_an_expression():
    frame = pl.DataFrame({"rid": [RID]})
    assert frame.select(utc_day_expr("rid")).item() == date(2024, 2, 16)
    assert frame.select(utc_day_expr(pl.col("rid").str.strip_chars())).item() == date(2024, 2, 16)


@given(ms=st.integers(0, 10**13 - 1), suffix=st.text("ABCxyz019", min_size=6, max_size=6))
def test_every_documented_id_round_trips_its_prefix_and_day(ms, suffix):
    rid = f"{ms:013d}.{suffix}"
    assert prefix_ms(rid) == ms
    assert utc_day(rid) == date(1970, 1, 1) + timedelta(milliseconds=ms)
    assert pl.DataFrame({"request_id": [rid]}).select(utc_day_expr()).item() == utc_day(rid)
