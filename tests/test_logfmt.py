"""Specifications of `key=value` reading: strict logfmt lines, and the pairs inside free-text lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.logfmt import logfmt_fields, looks_like_logfmt, text_pairs, unquote


def test_a_logfmt_line_gives_its_pairs_bare_keys_and_pair_count():
    assert logfmt_fields('at=info msg="a b" flag empty=') == (
        {"at": "info", "msg": "a b", "flag": None, "empty": ""},
        3,
    )


@pytest.mark.parametrize("line", ['msg="unterminated', 'a="x"glued', '"quoted first"'])
def test_a_line_that_is_not_logfmt_gives_none(line):
    assert logfmt_fields(line) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ts=2026-11-23T10:00:01Z level=info user_id=u1", True),
        ("at=info msg=hello", True),
        ("at=info a b c", False),  # mostly bare words
        ("2026-11-23T10:00:01Z INFO login fp=x user=u1 event=login outcome=failure ip=1.2.3.4", False),
        ("INFO a=1 b=2 c=3 d=4 e=5", False),  # starts with prose
        ("", False),
    ],
)
def test_logfmt_is_a_line_that_starts_with_a_pair_and_is_mostly_pairs(line, expected):
    assert looks_like_logfmt(line) is expected


def test_pairs_after_a_free_text_prefix_are_found_in_order():
    line = '2026-11-23T10:00:01.123Z INFO [web-7] login user=alice msg="two words" outcome=failure latency_ms=12'
    assert list(text_pairs(line).items()) == [
        ("user", "alice"),
        ("msg", "two words"),
        ("outcome", "failure"),
        ("latency_ms", "12"),
    ]


@pytest.mark.parametrize(
    "prose",
    [
        "GET /login?user=bob&fp=1 HTTP/1.1",  # a query string
        "see https://example.com/?uid=7",  # a URL
        "a==b and 1+1=2 and -x=1",  # not identifiers
        'x="glued"y',  # a quoted value with a tail
        "[user=eve] (uid=3)",  # bracketed
        "no pairs at all",
    ],
)
def test_prose_that_merely_contains_an_equals_sign_gives_no_pair(prose):
    assert text_pairs(prose) == {}


def test_keys_may_be_dotted_dashed_or_start_with_an_at_sign_and_a_repeated_key_keeps_its_last_value():
    assert text_pairs("x @timestamp=1 http.status=200 trace-id=ab k=1 k=2") == {
        "@timestamp": "1",
        "http.status": "200",
        "trace-id": "ab",
        "k": "2",
    }


@pytest.mark.parametrize(
    ("quoted", "expected"),
    [
        (r"a \"b\" c", 'a "b" c'),
        (r"tab\there", "tab\there"),
        (r"\u00e9", "é"),
        (r"bad \x escape \"q\"", r'bad \x escape "q"'),
    ],
)
def test_quoted_values_resolve_json_escapes_and_keep_what_json_cannot_read(quoted, expected):
    assert unquote(quoted) == expected
    assert text_pairs(f'k="{quoted}"') == {"k": expected}


@given(st.text(max_size=200))
def test_any_text_gives_string_pairs_whose_keys_are_in_the_text(text):
    pairs = text_pairs(text)
    assert all(type(k) is str and type(v) is str and f"{k}=" in text for k, v in pairs.items())
