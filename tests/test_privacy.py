"""transforms.privacy: IP addresses and URLs as FPWH_IP_PRIVACY / FPWH_URL_PRIVACY want them stored."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import orjson
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.catalog import TABLES
from transforms.privacy import (
    FULL,
    PrivacyPolicy,
    hash_ip,
    protect,
    scrub_json,
    scrub_text,
    strip_query,
    truncate_ip,
)

KEY = b"0123456789abcdef-test-key"
TRUNCATE = PrivacyPolicy(ip="truncate", url="strip_query")
HASH = PrivacyPolicy(ip="hash", url="full", key=KEY)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.255", "10.1.2.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2001:DB8:85A3::1", "2001:db8:85a3::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        (" 192.0.2.1 ", "192.0.2.0"),
    ],
)
def test_truncation_keeps_the_24_or_48_network_with_host_bits_zeroed(address, network):
    assert truncate_ip(address) == network


@pytest.mark.parametrize("garbage", ["", "unknown", "300.1.1.1", "1.2.3", "not::an::ip"])
def test_truncating_something_that_is_no_address_gives_null(garbage):
    assert truncate_ip(garbage) is None


def test_a_hash_is_keyed_stable_and_the_same_for_every_spelling_of_an_address():
    assert hash_ip("2001:DB8::1", KEY) == hash_ip("2001:db8:0::1", KEY) == hash_ip("2001:db8::1", KEY)
    assert hash_ip("192.0.2.1", KEY) != hash_ip("192.0.2.2", KEY)
    assert hash_ip("192.0.2.1", KEY) != hash_ip("192.0.2.1", b"another key of 16+ chars")
    assert len(hash_ip("192.0.2.1", KEY)) == 32 and set(hash_ip("192.0.2.1", KEY)) <= set("0123456789abcdef")


def test_strip_query_removes_the_query_and_the_fragment_and_keeps_the_path():
    assert strip_query("https://shop.example/login?email=a@b.c&t=1#frag") == "https://shop.example/login"
    assert strip_query("https://shop.example/a/{b}#x?y") == "https://shop.example/a/{b}"
    assert strip_query("https://shop.example/") == "https://shop.example/"


def test_the_hash_mode_needs_a_key_and_the_policy_never_shows_it():
    with pytest.raises(ValueError, match="FPWH_PRIVACY_KEY"):
        PrivacyPolicy(ip="hash")
    assert KEY.decode() not in repr(HASH) and KEY.decode() not in HASH.label
    assert HASH.label.startswith("ip=hash(key ") and HASH.label != PrivacyPolicy("hash", key=b"x" * 16).label
    assert FULL.label == "ip=full url=full" and FULL.is_full


def test_free_text_keeps_everything_but_the_addresses_and_url_queries():
    line = (
        '2026-11-22T10:00:01Z WARN 203.0.113.9 - - "POST /api/login?fp_request=1763805601000.AbCdEf HTTP/1.1" '
        "from 2001:db8:85a3::7 v1.2.3.4.5 at 10:00:01 std::vector"
    )
    assert scrub_text(line, TRUNCATE) == (
        '2026-11-22T10:00:01Z WARN 203.0.113.0 - - "POST /api/login HTTP/1.1" '
        "from 2001:db8:85a3:: v1.2.3.4.5 at 10:00:01 std::vector"
    )
    hashed = scrub_text(line, HASH)
    assert "203.0.113.9" not in hashed and hash_ip("203.0.113.9", KEY) in hashed
    assert "fp_request=1763805601000.AbCdEf" in hashed  # FPWH_URL_PRIVACY=full keeps queries
    assert scrub_text(line, FULL) == line


def test_a_log_context_rewrites_values_by_their_key_and_keeps_untouched_contexts_byte_for_byte():
    context = {
        "ip": "198.51.100.23",
        "x-forwarded-for": "198.51.100.23, 10.0.0.1",
        "referer": "https://shop.example/cart?coupon=SECRET",
        "path": "checkout?step=2",
        "message": "retry from 198.51.100.23",
        "nested": {"client_ip": "2001:db8::5"},
        "user_id": "u-1",
        "attempt": 2,
    }
    cleaned = orjson.loads(scrub_json(orjson.dumps(context).decode(), TRUNCATE))
    assert cleaned == {
        **context,
        "ip": "198.51.100.0",
        "x-forwarded-for": "198.51.100.0, 10.0.0.0",
        "referer": "https://shop.example/cart",
        "path": "checkout",
        "message": "retry from 198.51.100.0",
        "nested": {"client_ip": "2001:db8::"},
    }
    untouched = '{"user_id":  "u-1", "action": "login"}'
    assert scrub_json(untouched, TRUNCATE) == untouched
    assert scrub_json("not json 192.0.2.1", TRUNCATE) == "not json 192.0.2.0"


def test_protect_rewrites_exactly_the_marked_columns_and_full_changes_nothing():
    events = pl.DataFrame(
        {
            "ip": ["192.0.2.1", "192.0.2.1", None, "junk"],
            "url": ["https://a.example/p?q=1", None, "https://a.example/", "x#y"],
            "user_agent": ["Mozilla 192.0.2.1"] * 4,
        }
    )
    markers = {"ip": "ip", "url": "url", "missing_column": "ip"}
    assert protect(events, markers, FULL).equals(events)
    truncated = protect(events, markers, TRUNCATE)
    assert truncated["ip"].to_list() == ["192.0.2.0", "192.0.2.0", None, None]
    assert truncated["url"].to_list() == ["https://a.example/p", None, "https://a.example/", "x"]
    assert truncated["user_agent"].equals(events["user_agent"])
    hashed = protect(events, markers, HASH)
    assert hashed["ip"][0] == hashed["ip"][1] == hash_ip("192.0.2.1", KEY) and hashed["url"].equals(events["url"])


def test_the_catalog_marks_every_ip_and_url_column_of_the_api_tables():
    marked = {(t.name, c): kind for t in TABLES for c, kind in t.privacy.items()}
    assert marked == {
        ("events", "ip"): "ip",
        ("events", "botd_ip"): "ip",
        ("events", "ip_v4_address"): "ip",
        ("events", "url"): "url",
        ("events", "botd_url"): "url",
        ("events", "client_referrer"): "url",
        ("ip_info", "address"): "ip",
    }


@given(st.text(max_size=200))
def test_any_text_is_scrubbed_without_error_and_scrubbing_twice_changes_nothing_more(text):
    once = scrub_text(text, TRUNCATE)
    assert scrub_text(once, TRUNCATE) == once
    assert isinstance(scrub_json(text, HASH), str)


@given(st.ip_addresses())
def test_any_address_truncates_to_an_address_of_its_network(address):
    truncated = ipaddress.ip_address(truncate_ip(str(address)))
    base = address.ipv4_mapped if getattr(address, "ipv4_mapped", None) else address
    assert truncated in ipaddress.ip_network((base, 24 if base.version == 4 else 48), strict=False)


def _reference_truncation(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(ipaddress.ip_network((address, 24 if address.version == 4 else 48), strict=False).network_address)


@given(
    st.text(alphabet="0123456789.:abcdef٣ ", max_size=20)
    | st.builds(".".join, st.lists(st.integers(0, 999).map(str) | st.just("007"), min_size=4, max_size=4))
)
def test_the_fast_ipv4_path_agrees_with_the_standard_library(text):
    assert truncate_ip(text) == _reference_truncation(text)
    try:
        canonical = ipaddress.ip_address(text.strip()).compressed
    except ValueError:
        canonical = text
    assert hash_ip(text, KEY) == hmac.new(KEY, canonical.encode(), hashlib.sha256).hexdigest()[:32]
