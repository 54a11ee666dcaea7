"""Flatten raw Server API responses into the catalog's typed silver tables.

Two paths compiled from the catalog fill the same buffers (`transforms.typed.new_buffers`: row tuples for
`events`, a list per column for the tables of event parts), one event at a time, in event order:
- the fast path (`transforms.typed`): msgspec decodes the body into Structs generated from the catalog,
  checking every type and rejecting unknown keys in C, and a generated function appends the rows. It takes
  only events it can reproduce exactly, and raises for anything else (its partial rows are cut back);
- the exact walker (`transforms.walker`): orjson parses the body and the compiled walker fills every table's
  rows, counts keys the catalog does not know (per JSON path, never fatal) and nulls values of the wrong
  type, recording each in `quarantine`. Every event the fast path declines goes here, so the output is the
  walker's for every input; the fast path only makes the common, well-formed event cheap.
One bad value costs that value, one unparseable body costs that event, nothing costs the batch. Each table is
then built column by column (`pl.Series` with the catalog dtype), so no column's type is ever inferred.

A v3 body in the flat webhook shape (pushed by a v3 webhook, kept raw in bronze) is declined by the fast path and
converted to the v3 event shape before the walk (`transforms.dialects.v3_webhook`), so it lands in the same
columns as a fetched event.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from transforms.catalog import SYSTEM_COLUMNS, TABLES
from transforms.dialects import dialect, v3_webhook
from transforms.typed import COLUMNAR, Extractor, compile_extractor, new_buffers, row_counters, truncate
from transforms.walker import compile_walker

QUARANTINE_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "api_version": pl.Int64(),
        "json_path": pl.String(),
        "reason": pl.String(),
        "value_excerpt": pl.String(),
    }
)
QUARANTINE_DESCRIPTIONS = {
    "request_id": "The event the problem was found in.",
    "api_version": "Server API version of the response.",
    "json_path": "Catalog path of the bad value (`$` when the whole body was unusable).",
    "reason": "What was wrong, e.g. `expected string, got object`; the value was loaded as NULL.",
    "value_excerpt": "The offending value as JSON text (first 200 characters).",
}

# What the walk stores before the final cast: timestamps travel as epoch-ms integers.
_STAGING = {"timestamp": pl.Int64()}


@dataclass
class FlattenResult:
    """The silver tables of one batch, plus what the batch taught us about the API."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    unknown_fields: Counter[str]
    events_in: int
    events_quarantined: int
    events_walked: int = 0  # events the fast path declined (unknown keys, bad values, broken JSON)


class _Batch:
    """Row buffers of one flatten call, filled by the compiled walker."""

    def __init__(self) -> None:
        self.rows: list[Any] = new_buffers()
        self.unknown: Counter[str] = Counter()
        self.quarantine: list[tuple[str, int, str, str, str]] = []
        self.events_quarantined = 0
        self.events_walked = 0

    def unknown_keys(self, value: dict, known: frozenset[str], path: str) -> None:
        for k in value.keys() - known:
            self.unknown[f"{path}.{k}" if path else k] += 1

    def reject(self, rid: str, version: int, path: str, expected: str, value: Any) -> None:
        reason = f"expected {expected}, got {_json_type(value)}"
        excerpt = orjson.dumps(value, default=str).decode()[:200]
        self.quarantine.append((rid, version, path or "$", reason, excerpt))

    def reject_event(self, rid: str, version: int, reason: str, excerpt: str) -> None:
        self.quarantine.append((rid, version, "$", reason, excerpt[:200]))
        self.events_quarantined += 1


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


def flatten(
    request_ids: Sequence[str], bodies: Sequence[bytes | str], api_versions: Sequence[int] | int = 3
) -> FlattenResult:
    """Flatten raw response bodies (one per request ID) into every catalog table."""
    batch = _Batch()
    versions = [api_versions] * len(bodies) if isinstance(api_versions, int) else api_versions
    # The walk and the transposition allocate millions of small tuples that are never cyclic: the cyclic GC
    # would only rescan them over and over (it doubles the cost), so it is paused until the frames are built.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _walk_all(batch, request_ids, bodies, versions)
        tables = {t.name: _frame(ti, buffer) for ti, (t, buffer) in enumerate(zip(TABLES, batch.rows, strict=True))}
    finally:
        if gc_was_enabled:
            gc.enable()
    return FlattenResult(
        tables=tables,
        quarantine=pl.DataFrame(batch.quarantine, schema=QUARANTINE_SCHEMA, orient="row"),
        unknown_fields=batch.unknown,
        events_in=len(bodies),
        events_quarantined=batch.events_quarantined,
        events_walked=batch.events_walked,
    )


def _walk_all(
    batch: _Batch, request_ids: Sequence[str], bodies: Sequence[bytes | str], versions: Sequence[int]
) -> None:
    counters = row_counters(batch.rows)
    extractors: dict[int, Extractor | None] = {}
    for rid, body, version in zip(request_ids, bodies, versions, strict=True):
        if version not in extractors:
            bind = compile_extractor(version)
            extractors[version] = None if bind is None else bind(batch.rows)
        extract = extractors[version]
        if extract is not None:
            counts = list(map(len, counters))
            try:
                extract(body, rid, version)
                continue
            except Exception:  # whatever the fast path declines, the exact walker below does from scratch
                truncate(batch.rows, counts)
        batch.events_walked += 1
        _walk_one(batch, rid, body, version)


def _walk_one(batch: _Batch, rid: str, body: bytes | str, version: int) -> None:
    """The exact path: orjson, the shape check and the compiled walker, its rows then added to the buffers."""
    rows: list[list[list[Any]]] = [[] for _ in TABLES]
    _walk_rows(batch, rid, body, version, rows)
    for ti, table_rows in enumerate(rows):
        if ti not in COLUMNAR:
            batch.rows[ti].extend(table_rows)
            continue
        for row in table_rows:
            for column, value in zip(batch.rows[ti], row, strict=True):
                column.append(value)


def _walk_rows(batch: _Batch, rid: str, body: bytes | str, version: int, rows: list[list[list[Any]]]) -> None:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        batch.reject_event(rid, version, f"body is not valid JSON: {e}", text)
        return
    if version == 3 and v3_webhook.is_webhook(event):
        event = v3_webhook.to_event(event)
    problem = _shape_problem(event, version)
    if problem is not None:
        batch.reject_event(rid, version, problem, orjson.dumps(event).decode())
        return
    compile_walker(version)(event, rid, version, rows, batch)


def _shape_problem(event: Any, version: int) -> str | None:
    """Why a parsed body is not an event of its API version, or None when it is one (the dialect says)."""
    try:
        return dialect(version).shape_problem(event)
    except ValueError as error:  # a version we do not speak
        return str(error)


def _frame(ti: int, buffer: list[Any]) -> pl.DataFrame:
    """One table from its buffer, built column by column (row tuples are transposed by one C-level `zip`)."""
    t = TABLES[ti]
    cols = (*SYSTEM_COLUMNS, *t.keys, *t.columns)
    staging = pl.Schema({c.name: _STAGING.get(c.kind, c.dtype) for c in cols})
    columns = buffer if ti in COLUMNAR else zip(*buffer, strict=True) if buffer else [()] * len(cols)
    try:
        df = pl.DataFrame(
            [pl.Series(n, values, dtype=d) for (n, d), values in zip(staging.items(), columns, strict=True)]
        )
    except Exception:
        # Only a value the staging type cannot hold gets here (an integer beyond Int64, which orjson reads and
        # the walker passes through): the row build then raises what the flattener has always raised for it.
        rows = list(zip(*buffer, strict=True)) if ti in COLUMNAR else buffer
        df = pl.DataFrame(rows, schema=staging, orient="row")
    timestamps = [c.name for c in cols if c.kind == "timestamp"]
    if timestamps:
        df = df.with_columns(pl.from_epoch(pl.col(timestamps), "ms").dt.replace_time_zone("UTC"))
    return df.cast(dict(t.schema))


def empty_tables() -> dict[str, pl.DataFrame]:
    """Every catalog table with no rows, typed: what a day without events publishes."""
    return {t.name: pl.DataFrame(schema=t.schema) for t in TABLES}
