"""`key=value` pairs: whole logfmt lines, and the pairs a free-text log line carries after its prefix.

Two readers with one value syntax (bare, or double-quoted with JSON-style escapes), because applications mix
them: a logfmt logger writes `ts=… level=info user_id=u1 request_id=…`, and a plain-text logger writes
`2026-11-23T10:00:01Z INFO [web-7] login user=alice outcome=failure fp=… latency_ms=12`. The first is read
strictly (anything that is not a pair or a bare key makes the line malformed); the second leniently (only
tokens that are clearly pairs are taken, the prose around them is the message).
"""

from __future__ import annotations

import re

import orjson

# One pass: a key, optionally `=` and a quoted or bare value, ending at a space; anything else is garbage.
_LOGFMT_TOKENS = re.compile(r'([^\s="]+)(?:(=)(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s"]*)))?(?=\s|$)|(\S+)')
# In free text a pair is a whole whitespace-separated token whose key looks like an identifier, so that a URL's
# query string (`/login?fp=…`), `a==b` or `1+1=2` in a message are prose, not fields. The leading `\s` (the
# line is searched with a space in front) is a quarter faster than a look-behind for the same tokens.
_TEXT_PAIRS = re.compile(
    r'\s([A-Za-z_@][\w.@-]*)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|((?!=)[^\s"]*))(?!\S)',
    re.ASCII,
)


def logfmt_fields(text: str) -> tuple[dict[str, str | None], int] | None:
    """A logfmt line as {key: value} (None for a bare key) and its number of key=value pairs; None if it is
    not logfmt (an unterminated quote, a token glued to a quoted value)."""
    fields: dict[str, str | None] = {}
    pairs = 0
    for key, equals, quoted, bare, garbage in _LOGFMT_TOKENS.findall(text):
        if garbage:
            return None
        if equals:
            pairs += 1
            fields[key] = unquote(quoted) if "\\" in quoted else quoted or bare
        else:
            fields[key] = None
    return fields, pairs


def looks_like_logfmt(text: str) -> bool:
    """Whether a line reads as logfmt rather than as prose that carries some pairs.

    A logfmt line starts with a pair and has more pairs than bare words. A line that starts with free text
    (a timestamp, a level, a message) is text whatever pairs follow: read as logfmt, only a named request-ID
    field would be found, and an ID in `fp=…` would be lost.
    """
    first = text.split(maxsplit=1)[:1]
    if not first or "=" not in first[0]:
        return False
    parsed = logfmt_fields(text)
    return parsed is not None and parsed[1] > len(parsed[0]) - parsed[1]


def text_pairs(text: str) -> dict[str, str]:
    """The `key=value` tokens of a free-text line, in order (a repeated key keeps its last value)."""
    if "=" not in text:
        return {}
    found = _TEXT_PAIRS.findall(" " + text)
    return {key: unquote(quoted) if "\\" in quoted else quoted or bare for key, quoted, bare in found}


def unquote(quoted: str) -> str:
    """The value inside double quotes, with its escapes resolved (JSON's, else just `\\"` and `\\\\`)."""
    try:
        value = orjson.loads(f'"{quoted}"'.encode())
    except orjson.JSONDecodeError:
        return quoted.replace('\\"', '"').replace("\\\\", "\\")
    return value if type(value) is str else quoted
