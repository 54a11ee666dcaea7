"""Versions of one event: what the customer can change after the fact, and whether anything else changed.

Customers update an event's linked ID, tag and suspect flag through the Server API (v3 `PUT /events/{id}` up to
10 days, v4 `PATCH` up to a month), and the API may complete an event later (v4 `incremental_identification_status`).
Bronze keeps every version received. This module says, for raw bodies:
- `event_digest`: a digest of the whole event, independent of key order and whitespace, so a re-read event
  can be compared with the stored one whatever endpoint (by ID, search) returned either;
- `labels`: the updatable fields, read from the catalog's source paths of the `events` columns `linked_id`,
  `tag` and `suspect`, so they agree with the `events` table;
- `version_rows` / `number_versions`: the `event_versions` rows of an event received more than once, with what
  changed from the version before (`linked_id`, `tag`, `suspect`, or `other` for anything else);
  `single_versions`: those of the events received once, from their `events` rows (no second parse).

Pure: bytes in, polars frames out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import polars as pl

from transforms.catalog import EVENTS

UPDATABLE: tuple[str, ...] = ("linked_id", "tag", "suspect")
OTHER = "other"
_COLUMNS = {c.name: c for c in EVENTS.columns}
# botd repeats the linked ID and the tag in v3 (API.md 14.7): an update changes those copies too, so they are
# part of the label change, not "other".
_COPIES = {3: ("products.botd.data.linkedId", "products.botd.data.meta"), 4: ()}

VERSIONS_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "api_version": pl.Int64(),
        "version": pl.Int64(),
        "fetched_at": pl.Datetime("us", "UTC"),
        "method": pl.String(),
        "linked_id": pl.String(),
        "tag": pl.String(),
        "suspect": pl.Boolean(),
        "changed": pl.List(pl.String()),
        "is_latest": pl.Boolean(),
    }
)
VERSIONS_DESCRIPTIONS = {
    "request_id": "The event's request ID.",
    "api_version": "Server API version of this version's body (3 or 4).",
    "version": "1 for the version first fetched, then 2, 3, ... in the order they were received.",
    "fetched_at": "When this version was received (UTC): the label history's clock.",
    "method": "How it was received: `by_id` or `search` (a refresh lands what changed the same ways).",
    "linked_id": "The linked ID this version carries.",
    "tag": "The tag this version carries, as JSON text (v4: `tags`).",
    "suspect": "The suspect flag this version carries (NULL: never set).",
    "changed": "What differs from the previous version: `linked_id`, `tag`, `suspect`, `other` (anything else, e.g. "
    "an event the API completed later); empty for version 1.",
    "is_latest": "This is the version the other tables show.",
}
# Staging: the labels as stored, plus each label and the rest of the event as comparable keys (a tag is an
# object: two texts of one object must compare equal).
_KEYS = tuple(f"{name}_key" for name in UPDATABLE)
_STAGING = pl.Schema(
    {
        **{name: VERSIONS_SCHEMA[name] for name in ("request_id", "api_version", "fetched_at", "method")},
        **{name: VERSIONS_SCHEMA[name] for name in UPDATABLE},
        **dict.fromkeys((*_KEYS, "rest_digest"), pl.Binary()),
    }
)


def event_digest(event: Any) -> bytes:
    """A digest of a parsed event that ignores key order and formatting."""
    return hashlib.blake2b(orjson.dumps(event, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def labels(event: Any, version: int) -> dict[str, Any]:
    """The updatable fields of a parsed event, as JSON values (None when absent)."""
    return {name: _at(event, _COLUMNS[name].paths(version)) for name in UPDATABLE}


def changed_labels(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The updatable fields whose values differ (a tag compared as an object, not as text)."""
    return [name for name in UPDATABLE if before.get(name) != after.get(name)]


def version_rows(
    request_ids: Sequence[str],
    fetched_at: Sequence[datetime],
    api_versions: Sequence[int],
    methods: Sequence[str],
    bodies: Sequence[bytes],
) -> pl.DataFrame:
    """One staging row per received version (unnumbered); a body that is not a JSON object is skipped."""
    rows = []
    for rid, at, version, method, body in zip(request_ids, fetched_at, api_versions, methods, bodies, strict=True):
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            rows.append((rid, version, at, method, *_stored(labels(event, version)), *_version_keys(event, version)))
    return pl.DataFrame(rows, schema=_STAGING, orient="row")


def _stored(found: dict[str, Any]) -> tuple[str | None, str | None, bool | None]:
    """The labels as the `events` table stores them (a value of the wrong type is NULL there too)."""
    linked, tag, suspect = (found[name] for name in UPDATABLE)
    return (
        linked if isinstance(linked, str) else None,
        orjson.dumps(tag).decode() if tag is not None else None,
        suspect if isinstance(suspect, bool) else None,
    )


def _version_keys(event: dict, version: int) -> list[bytes]:
    found = labels(event, version)
    keys = [orjson.dumps(found[name], option=orjson.OPT_SORT_KEYS) for name in UPDATABLE]
    return [*keys, event_digest(_without(event, [*_paths(version), *_COPIES[version]]))]


def number_versions(staged: pl.DataFrame) -> pl.DataFrame:
    """The `event_versions` rows of every staged version of a day: numbered, with what changed, latest flagged."""
    later = pl.col("version") > 1
    changes = [
        pl.when(later & pl.col(key).ne_missing(pl.col(key).shift(1).over("request_id"))).then(pl.lit(name))
        for name, key in [*zip(UPDATABLE, _KEYS, strict=True), (OTHER, "rest_digest")]
    ]
    return (
        staged.unique(["request_id", "fetched_at"], keep="first")
        .sort("request_id", "fetched_at")
        .with_columns(version=pl.int_range(1, pl.len() + 1).over("request_id"))
        .with_columns(changed=pl.concat_list(changes).list.drop_nulls())
        .with_columns(is_latest=pl.col("version") == pl.col("version").max().over("request_id"))
        .select(VERSIONS_SCHEMA.names())
        .cast(dict(VERSIONS_SCHEMA))
    )


def single_versions(latest: pl.DataFrame) -> pl.DataFrame:
    """The `event_versions` rows of events received once, from request_id, api_version, fetched_at, method and the
    labels as the `events` table stores them (the same values `version_rows` reads)."""
    return (
        latest.with_columns(version=pl.lit(1), changed=pl.lit([], pl.List(pl.String())), is_latest=pl.lit(True))
        .select(VERSIONS_SCHEMA.names())
        .cast(dict(VERSIONS_SCHEMA))
    )


def _paths(version: int) -> list[str]:
    return [path for name in UPDATABLE for path in _COLUMNS[name].paths(version)]


def _at(event: Any, paths: Sequence[str]) -> Any:
    for path in paths:
        node = event
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def _without(event: dict, paths: Sequence[str]) -> dict:
    """A copy of `event` without the values at `paths`, copying only the containers on the way."""
    out = dict(event)
    for path in paths:
        *parents, last = path.split(".")
        node = out
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                break
            copied = dict(child)
            node[key] = copied
            node = copied
        else:
            node.pop(last, None)
    return out
