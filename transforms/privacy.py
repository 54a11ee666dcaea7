"""IP addresses and URLs as the privacy settings want them stored: polars expressions applied to finished tables.

The flattener and the log parser produce values as received; `protect(df, markers, policy)` then rewrites the
columns a table marks as sensitive (the catalog's `privacy` markers, `pipelines.tables` for the other tables):
- `ip`: an IP address. `full` keeps it. `truncate` keeps its network, IPv4 /24 and IPv6 /48, written as that
  network's address (`203.0.113.0`, `2001:db8:85a3::`, host bits zeroed, as web analytics tools anonymise), so
  geography and ASN questions still work but no host can be singled out; a value that is not an IP address
  becomes NULL (it cannot be truncated and might hide one). `hash` writes the first 32 hex digits of
  HMAC-SHA256 of the address's canonical text (`2001:DB8::1` and `2001:db8::1` are one address) keyed with
  FPWH_PRIVACY_KEY: the same address gives the same value in every table and on every day, so joins and distinct
  counts still work, while without the key nobody can test a guessed address.
- `url`: a URL. `strip_query` removes everything from the first `?` or `#` (queries and fragments carry tokens,
  e-mail addresses and session IDs); scheme, host and path stay.
- `text`: free text (a log line, an excerpt): URLs in it lose their query, IP addresses in it are truncated or
  hashed in place; everything else is kept.
- `json`: a JSON object as text (a log line's context): a string under an IP-like key (`ip`, `client_ip`,
  `x_forwarded_for`, ...) is an `ip` (or, when it is not one address, `text`), under a URL-like key (`url`,
  `referer`, `path`, ...) a `url`, any other string `text`; a context nothing changed in keeps its exact bytes.

Pure: no I/O. The key travels in `PrivacyPolicy`, whose repr never shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import polars as pl

IpMode = Literal["full", "truncate", "hash"]
UrlMode = Literal["full", "strip_query"]
Sensitive = Literal["ip", "url", "text", "json"]
# The variable that governs each marker: what the data dictionary shows beside a marked column.
GOVERNED_BY: dict[str, str] = {
    "ip": "FPWH_IP_PRIVACY",
    "url": "FPWH_URL_PRIVACY",
    "text": "FPWH_IP_PRIVACY and FPWH_URL_PRIVACY (addresses and URL queries inside the text)",
    "json": "FPWH_IP_PRIVACY and FPWH_URL_PRIVACY (values under IP- and URL-like keys, and inside any text)",
}
IPV4_PREFIX, IPV6_PREFIX = 24, 48
HASH_HEX_DIGITS = 32

IP_KEYS = frozenset(
    {
        *("ip", "ip_address", "ipaddress", "client_ip", "clientip", "remote_ip", "remote_addr", "remoteaddr"),
        *("source_ip", "src_ip", "user_ip", "real_ip", "x_real_ip", "x_forwarded_for", "forwarded_for", "forwarded"),
    }
)
URL_KEYS = frozenset(
    {
        *("url", "uri", "href", "link", "location", "referer", "referrer", "http_referer", "client_referrer"),
        *("path", "request_uri", "request_url", "request_path", "page", "page_url"),
    }
)
_QUERY = re.compile(r"(?s)[?#].*")
_URL_WITH_QUERY = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*://|/)[^\s?#\"'<>]*)[?#][^\s\"'<>]*")
_IPV4_EXACT = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", re.ASCII)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![\w:])")


@dataclass(frozen=True)
class PrivacyPolicy:
    """The two modes and, for `hash`, the key (bytes, never shown by repr)."""

    ip: IpMode = "full"
    url: UrlMode = "full"
    key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.ip == "hash" and not self.key:
            raise ValueError("the hash mode needs a key: set FPWH_PRIVACY_KEY")

    @property
    def is_full(self) -> bool:
        return self.ip == "full" and self.url == "full"

    @property
    def key_id(self) -> str:
        """A short tag of the key (not the key), so that days hashed with different keys can be told apart."""
        if self.ip != "hash":
            return ""  # the key shapes nothing else
        return hmac.new(self.key, b"fpwh privacy key id", hashlib.sha256).hexdigest()[:8]

    @property
    def label(self) -> str:
        """`ip=<mode> url=<mode>`, with the key's tag for `hash`: two labels differ when the stored forms do."""
        return describe_mode(self.ip, self.url, self.key_id)


def describe_mode(ip: str, url: str, key_id: str = "") -> str:
    """The label of a stored form: `ip=truncate url=full`, `ip=hash(key 1a2b3c4d) url=strip_query`."""
    return f"ip={f'hash(key {key_id})' if ip == 'hash' else ip} url={url}"


FULL = PrivacyPolicy()


def protect(df: pl.DataFrame, markers: Mapping[str, Sensitive], policy: PrivacyPolicy) -> pl.DataFrame:
    """`df` with every marked column present rewritten for `policy` (unchanged under `full`/`full`)."""
    exprs = [column_expr(name, kind, policy) for name, kind in markers.items() if name in df.columns]
    applied = [e for e in exprs if e is not None]
    return df.with_columns(applied) if applied else df


def column_expr(name: str, kind: Sensitive, policy: PrivacyPolicy) -> pl.Expr | None:
    """The expression that rewrites column `name` holding `kind` values, or None when the policy keeps them."""
    column = pl.col(name)
    if kind == "url":
        return None if policy.url == "full" else column.str.replace(_QUERY.pattern, "")
    if kind == "ip":
        return None if policy.ip == "full" else _mapped(column, lambda v: protect_ip(v, policy))
    if policy.is_full:
        return None
    scrub = scrub_text if kind == "text" else scrub_json
    return _mapped(column, lambda v: scrub(v, policy))


def _mapped(column: pl.Expr, function: Callable[[str], str | None]) -> pl.Expr:
    """`function` applied once per distinct value of the column (addresses repeat: visitors return)."""

    def per_batch(series: pl.Series) -> pl.Series:
        values = series.drop_nulls().unique().to_list()
        mapping = {value: function(value) for value in values}
        return series.replace_strict(mapping, default=None, return_dtype=pl.String)

    return column.map_batches(per_batch, return_dtype=pl.String)


def protect_ip(text: str, policy: PrivacyPolicy) -> str | None:
    """One IP address as the policy stores it (see the module docstring)."""
    if policy.ip == "full":
        return text
    if policy.ip == "hash":
        return hash_ip(text, policy.key)
    return truncate_ip(text)


def truncate_ip(text: str) -> str | None:
    """The address of the /24 (IPv4) or /48 (IPv6) network holding `text`; None when it is not an address."""
    dotted = _dotted_quad(text)
    if dotted is not None:
        return dotted.rpartition(".")[0] + ".0"  # the common case, without building an address object
    address = _parse_ip(text)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network((address, prefix), strict=False).network_address)


def hash_ip(text: str, key: bytes) -> str:
    """HMAC-SHA256 of the address's canonical text (of `text` itself when it is no address), shortened."""
    canonical = _dotted_quad(text)
    if canonical is None:
        address = _parse_ip(text)
        canonical = address.compressed if address is not None else text
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:HASH_HEX_DIGITS]


def strip_query(url: str) -> str:
    """`url` without its query string and fragment."""
    return _QUERY.sub("", url)


def scrub_text(text: str, policy: PrivacyPolicy) -> str:
    """Free text with the query of every URL in it removed and every IP address in it truncated or hashed."""
    if policy.url == "strip_query":
        text = _URL_WITH_QUERY.sub(r"\1", text)
    if policy.ip != "full":
        text = _IPV4.sub(lambda m: _in_text(m, policy), text)
        text = _IPV6.sub(lambda m: _in_text(m, policy), text)
    return text


def _in_text(match: re.Match[str], policy: PrivacyPolicy) -> str:
    found = match.group(0)
    if _parse_ip(found) is None or not any(c.isalnum() for c in found):
        return found  # a time of day, a version number, a C++ scope: not an address
    return protect_ip(found, policy) or found


def scrub_json(text: str, policy: PrivacyPolicy) -> str:
    """A JSON object's text with its sensitive values rewritten; unchanged text when nothing needed it."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return scrub_text(text, policy)
    cleaned = _scrub_value(parsed, "", policy)
    return text if cleaned == parsed else orjson.dumps(cleaned).decode()


def _scrub_value(value: Any, key: str, policy: PrivacyPolicy) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_value(v, k, policy) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, key, policy) for v in value]
    if not isinstance(value, str):
        return value
    kind = key.lower().replace("-", "_")
    if kind in IP_KEYS and _parse_ip(value) is not None:
        return protect_ip(value, policy)
    if kind in URL_KEYS and policy.url == "strip_query":
        value = strip_query(value)
    return scrub_text(value, policy)


def _dotted_quad(text: str) -> str | None:
    """`text` as a canonical IPv4 address when it is one (what `ipaddress` accepts: no leading zeros), else None."""
    match = _IPV4_EXACT.fullmatch(text.strip())
    if match is None or any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in match.groups()):
        return None
    return match.group(0)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None
