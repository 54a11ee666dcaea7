"""The flattener as it was before the typed fast path (issue 15), kept verbatim as the test oracle.

`tests/test_flatten_differential.py` compares `transforms.flatten.flatten` with this `flatten` frame by frame:
the row-oriented walker compiled from the catalog, then `pl.DataFrame(rows, orient="row")` and casts. It is
test-only code: do not "fix" it, since the production flattener must stay identical to it (a behaviour change
starts as a change here, reviewed on its own).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import orjson
import polars as pl

from transforms.catalog import CONTAINERS_V3, SYSTEM_COLUMNS, TABLES, Column, Table

_BAD = object()  # the timestamp parser's answer for text that is not ISO 8601

Walker = Callable[[dict, str, int, list, Any], None]


def parse_timestamp(v: Any) -> Any:
    """ISO 8601 text (v3) or epoch milliseconds (v4) → epoch milliseconds, or `_BAD`."""
    t = type(v)
    if t is int:
        return v
    if t is str:
        try:
            return round(datetime.fromisoformat(v).timestamp() * 1000)
        except ValueError:
            return _BAD
    return _BAD


@dataclass(eq=False)
class _Node:
    """One JSON key position of the trie. `path` is its catalog pattern, used in messages."""

    path: str
    children: dict[str, _Node] = field(default_factory=dict)
    item: _Node | None = None  # `[]`: every list element
    any: _Node | None = None  # `*`: every key of an open map
    leaves: list[tuple[int, int, str, Any]] = field(default_factory=list)  # (table, column, kind, mode)
    opens: list[tuple[int, tuple[tuple[int, Any], ...], int | None]] = field(default_factory=list)

    def descend(self, segment: str) -> _Node:
        if segment.endswith("[]"):
            holder = self.descend(segment[:-2]) if segment[:-2] else self
            if holder.item is None:
                holder.item = _Node(f"{holder.path}[]")
            return holder.item
        if segment == "*":
            if self.any is None:
                self.any = _Node(f"{self.path}.*")
            return self.any
        if segment not in self.children:
            self.children[segment] = _Node(f"{self.path}.{segment}" if self.path else segment)
        return self.children[segment]

    def walk_to(self, path: str) -> _Node:
        node = self
        for segment in path.split(".") if path else ():
            node = node.descend(segment)
        return node


def table_width(table_index: int) -> int:
    t = TABLES[table_index]
    return len(SYSTEM_COLUMNS) + len(t.keys) + len(t.columns)


def _mode(column: Column, api_version: int, path: str) -> Any:
    """How a leaf stores its value: None (as is), `("map", pairs)` (a v4 value map) or `"any"` (OR of flags)."""
    if api_version == 4 and path in column.v4_any:
        return "any"
    if api_version == 4 and column.v4_values:
        return ("map", tuple(sorted(column.v4_values.items())))
    return None


def build_trie(api_version: int) -> _Node:
    """Every catalog path of one API version as a trie, with the rows each node opens."""
    root = _Node("")
    for ti, t in enumerate(TABLES):
        names = [c.name for c in (*SYSTEM_COLUMNS, *t.keys, *t.columns)]
        for anchor in t.anchors.get(api_version, ()):
            start = root.walk_to(anchor.path)
            fixed = tuple((names.index(k), v) for k, v in anchor.fixed)
            start.opens.append((ti, fixed, names.index(anchor.slot) if anchor.slot else None))
            for c in t.columns:
                for path in c.paths(api_version):
                    leaf = (ti, names.index(c.name), c.kind, _mode(c, api_version, path))
                    start.walk_to(path).leaves.append(leaf)
    if api_version == 3:  # v4 has no product envelopes
        for container in CONTAINERS_V3:
            root.walk_to(container)
    return root


_CHECKS = {"string": "str", "int": "int", "bool": "bool"}


class _Emitter:
    """Writes the walker's source, one node at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def node(self, node: _Node, var: str, depth: int, slot: str | None) -> None:
        for ti, fixed, slot_index in node.opens:
            self.line(depth, f"r{ti} = [None] * {table_width(ti)}")
            self.line(depth, f"r{ti}[0] = rid; r{ti}[1] = ver")
            for index, value in fixed:
                self.line(depth, f"r{ti}[{index}] = {value!r}")
            if slot_index is not None:
                self.line(depth, f"r{ti}[{slot_index}] = {slot}")
            self.line(depth, f"rows[{ti}].append(r{ti})")
        for kind, mode in dict.fromkeys((kind, mode) for _, _, kind, mode in node.leaves):
            self.leaf(node, var, depth, kind, mode)
        if node.children or node.any is not None:
            self.object(node, var, depth)
        elif node.item is not None:
            self.line(depth, f"if type({var}) is list:")
            index, item = self.fresh("i"), self.fresh("v")
            self.line(depth + 1, f"for {index}, {item} in enumerate({var}):")
            self.node(node.item, item, depth + 2, index)
            self.line(depth, "else:")
            self.line(depth + 1, f"batch.reject(rid, ver, {node.path!r}, 'array', {var})")

    def leaf(self, node: _Node, var: str, depth: int, kind: str, mode: Any) -> None:
        targets = [f"r{ti}[{ci}]" for ti, ci, k, m in node.leaves if (k, m) == (kind, mode)]
        assign = " = ".join(targets)
        reject = f"batch.reject(rid, ver, {node.path!r}, {kind!r}, {var})"
        if mode == "any":  # true when any source flag is true; false once one is seen and none is true
            self.line(depth, f"if type({var}) is bool: " + "; ".join(f"{t} = {var} or {t} is True" for t in targets))
            self.line(depth, f"else: {reject}")
        elif mode is not None:  # a value map: the v3 spelling of a v4 value, unknown values kept as they are
            values = self.fresh("M")
            self.consts[values] = dict(mode[1])
            self.line(depth, f"if type({var}) is str: {assign} = {values}.get({var}, {var})")
            self.line(depth, f"else: {reject}")
        elif kind == "json":
            self.line(depth, f"{assign} = _dumps({var}).decode()")
        elif kind == "float":
            self.line(depth, f"if type({var}) is float: {assign} = {var}")
            self.line(depth, f"elif type({var}) is int: {assign} = float({var})")
            self.line(depth, f"else: {reject}")
        elif kind == "timestamp":
            parsed = self.fresh("t")
            self.line(depth, f"{parsed} = _ts({var})")
            self.line(depth, f"if {parsed} is _BAD: {reject}")
            self.line(depth, f"else: {assign} = {parsed}")
        else:
            self.line(depth, f"if type({var}) is {_CHECKS[kind]}: {assign} = {var}")
            self.line(depth, f"else: {reject}")

    def object(self, node: _Node, var: str, depth: int) -> None:
        self.line(depth, f"if type({var}) is dict:")
        if node.any is None:
            known = self.fresh("K")
            self.consts[known] = frozenset(node.children)
            self.line(depth + 1, f"if {var}.keys() - {known}: batch.unknown_keys({var}, {known}, {node.path!r})")
        for key, child in node.children.items():
            value = self.fresh("v")
            self.line(depth + 1, f"{value} = {var}.get({key!r})")
            self.line(depth + 1, f"if {value} is not None:")
            self.node(child, value, depth + 2, repr(key))
        if node.any is not None:
            name, value = self.fresh("k"), self.fresh("v")
            self.line(depth + 1, f"for {name}, {value} in {var}.items():")
            self.line(depth + 2, f"if {value} is None: continue")
            self.node(node.any, value, depth + 2, name)
        self.line(depth + 1, "pass")
        self.line(depth, "else:")
        self.line(depth + 1, f"batch.reject(rid, ver, {node.path!r}, 'object', {var})")


def walker_source(api_version: int) -> tuple[str, dict[str, Any]]:
    """The generated source and its constants (print the source to debug a catalog change)."""
    emitter = _Emitter()
    emitter.line(0, "def walk(ev, rid, ver, rows, batch):")
    emitter.node(build_trie(api_version), "ev", 1, None)
    return "\n".join(emitter.lines), emitter.consts


@cache
def compile_walker(api_version: int) -> Walker:
    """The walker for one API version, generated from the catalog once per process."""
    source, consts = walker_source(api_version)
    namespace: dict[str, Any] = {"_BAD": _BAD, "_ts": parse_timestamp, "_dumps": orjson.dumps, **consts}
    exec(compile(source, f"<catalog walker v{api_version}>", "exec"), namespace)
    return namespace["walk"]


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


class _Batch:
    """Row buffers of one flatten call, filled by the compiled walker."""

    def __init__(self) -> None:
        self.rows: list[list[list[Any]]] = [[] for _ in TABLES]
        self.unknown: Counter[str] = Counter()
        self.quarantine: list[tuple[str, int, str, str, str]] = []
        self.events_quarantined = 0

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
    # The walk allocates millions of small lists that are never cyclic: the cyclic GC would only rescan
    # them over and over (it doubles the cost), so it is paused for the loop.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _walk_all(batch, request_ids, bodies, versions)
    finally:
        if gc_was_enabled:
            gc.enable()
    return FlattenResult(
        tables={t.name: _frame(t, rows) for t, rows in zip(TABLES, batch.rows, strict=True)},
        quarantine=pl.DataFrame(batch.quarantine, schema=QUARANTINE_SCHEMA, orient="row"),
        unknown_fields=batch.unknown,
        events_in=len(bodies),
        events_quarantined=batch.events_quarantined,
    )


def _walk_all(
    batch: _Batch, request_ids: Sequence[str], bodies: Sequence[bytes | str], versions: Sequence[int]
) -> None:
    for rid, body, version in zip(request_ids, bodies, versions, strict=True):
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            batch.reject_event(rid, version, f"body is not valid JSON: {e}", text)
            continue
        problem = _shape_problem(event, version)
        if problem is not None:
            batch.reject_event(rid, version, problem, orjson.dumps(event).decode())
            continue
        compile_walker(version)(event, rid, version, batch.rows, batch)


def _shape_problem(event: Any, version: int) -> str | None:
    """Why a parsed body is not an event of its API version, or None when it is one."""
    if version == 3:
        if type(event) is not dict or type(event.get("products")) is not dict:
            return "body is not a v3 event object with `products`"
    elif version == 4:
        # v4 requires `event_id`; a `products` object means a v3 body recorded under the wrong version
        if type(event) is not dict or "products" in event or type(event.get("event_id")) is not str:
            return "body is not a v4 event object with `event_id`"
    else:
        return f"Server API version {version} is not supported (3 or 4)"
    return None


def _frame(t: Table, rows: list[list[Any]]) -> pl.DataFrame:
    cols = (*SYSTEM_COLUMNS, *t.keys, *t.columns)
    staging = pl.Schema({c.name: _STAGING.get(c.kind, c.dtype) for c in cols})
    df = pl.DataFrame(rows, schema=staging, orient="row")
    timestamps = [c.name for c in cols if c.kind == "timestamp"]
    if timestamps:
        df = df.with_columns(pl.from_epoch(pl.col(timestamps), "ms").dt.replace_time_zone("UTC"))
    return df.cast(dict(t.schema))


def empty_tables() -> dict[str, pl.DataFrame]:
    """Every catalog table with no rows, typed: what a day without events publishes."""
    return {t.name: pl.DataFrame(schema=t.schema) for t in TABLES}
