"""The catalog compiled into one straight-line Python function per API version.

A generic walker that dispatches on a trie node per JSON key costs ~180 µs per event; the same trie
unrolled into plain `dict.get` calls and `type(...) is` checks costs a fraction of that, which is what
lets the pure-Python flattener beat DuckDB's `read_json` on the same work. The generated code is derived
entirely from `transforms.catalog`; nothing here knows a field name.

The function signature is `walk(event, request_id, api_version, rows, batch)`: it appends one row list per
table row to `rows[table_index]`, calls `batch.unknown_keys(obj, known_keys, path)` for objects with keys
the catalog does not know, and `batch.reject(request_id, api_version, path, expected, value)` for values
of the wrong type (which stay NULL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from transforms.catalog import CONTAINERS_V3, SYSTEM_COLUMNS, TABLES, Column

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
class Node:
    """One JSON key position of the trie. `path` is its catalog pattern, used in messages."""

    path: str
    children: dict[str, Node] = field(default_factory=dict)
    item: Node | None = None  # `[]`: every list element
    any: Node | None = None  # `*`: every key of an open map
    leaves: list[tuple[int, int, str, Any]] = field(default_factory=list)  # (table, column, kind, mode)
    opens: list[tuple[int, tuple[tuple[int, Any], ...], int | None]] = field(default_factory=list)

    def descend(self, segment: str) -> Node:
        if segment.endswith("[]"):
            holder = self.descend(segment[:-2]) if segment[:-2] else self
            if holder.item is None:
                holder.item = Node(f"{holder.path}[]")
            return holder.item
        if segment == "*":
            if self.any is None:
                self.any = Node(f"{self.path}.*")
            return self.any
        if segment not in self.children:
            self.children[segment] = Node(f"{self.path}.{segment}" if self.path else segment)
        return self.children[segment]

    def walk_to(self, path: str) -> Node:
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


def build_trie(api_version: int) -> Node:
    """Every catalog path of one API version as a trie, with the rows each node opens."""
    root = Node("")
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

    def node(self, node: Node, var: str, depth: int, slot: str | None) -> None:
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

    def leaf(self, node: Node, var: str, depth: int, kind: str, mode: Any) -> None:
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

    def object(self, node: Node, var: str, depth: int) -> None:
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
