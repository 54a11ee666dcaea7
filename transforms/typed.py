"""The catalog compiled into msgspec Structs and a straight-line row extractor: the flattener's fast path.

Most events are well formed: every key is one the catalog knows and every value has its declared type. For
those, msgspec decodes the body straight into Structs generated from the catalog trie (`transforms.walker`),
checking types and rejecting unknown keys in C, and a generated function reads the Structs into one row tuple
per table row. Nothing is checked twice in Python, and no dict is built for a body.

Whatever the fast path cannot take exactly raises (`msgspec.ValidationError` for a wrong type or an unknown
key, `msgspec.DecodeError` for broken JSON, `NotExact` where the exact walker would quarantine a value) and
the flattener sends that event through the exact walker instead, which counts unknown keys and quarantines
bad values. So the fast path only has to be right for the events it accepts; it never has to explain one.

Generated per API version, like the walker (a new source dialect is a new set of catalog paths, compiled the
same way). The rules that keep the two paths identical on accepted events:
- an object the catalog descends into is a frozen Struct whose default is a shared empty instance (`EMPTY`),
  so attribute chains never meet None; `{}` is a new instance, so it still opens a row as in the walker;
- JSON null is absent, as in the walker: a null object reads as `EMPTY`; a null list element, which the walker
  turns into a row of NULLs and a quarantine entry, is not taken;
- an `int` column takes exactly the integers polars stores in Int64 (larger ones go to the walker);
- a `float` column takes JSON integers as floats, as the walker's `float(v)` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

import msgspec
import orjson

from transforms.catalog import TABLES
from transforms.walker import Node, build_trie, parse_timestamp, table_width

INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

# What a leaf accepts, per catalog kind, as sets of JSON types; a node read by several columns accepts the
# intersection (v3 `timestamp` feeds a timestamp and an int column: it must be an integer).
_ACCEPTS: dict[str, frozenset[str]] = {
    "string": frozenset({"str"}),
    "int": frozenset({"int"}),
    "float": frozenset({"float", "int"}),
    "bool": frozenset({"bool"}),
    "timestamp": frozenset({"int", "str"}),
    "json": frozenset({"any"}),
}
_TYPES: dict[frozenset[str], Any] = {
    frozenset({"str"}): str,
    frozenset({"int"}): INT64,
    frozenset({"float", "int"}): float,
    frozenset({"bool"}): bool,
    frozenset({"int", "str"}): INT64 | str,
    frozenset({"any"}): Any,
}

# Tables whose rows stand for parts of an event (every anchor but the event root): filled column by column,
# one list per column, so that building their frames needs no transposition of millions of row tuples. The
# tables with a row per event keep row tuples, which are cheaper to build when rows are wide.
COLUMNAR: frozenset[int] = frozenset(
    ti for ti, t in enumerate(TABLES) if all(a.path for anchors in t.anchors.values() for a in anchors)
)

# `bind(buffers)` returns `extract(body, request_id, api_version)`, which decodes one body and appends its
# rows to the buffers (`new_buffers`). Binding once per batch keeps the per-event code free of lookups.
Extractor = Callable[[bytes | str, str, int], None]
Binder = Callable[[list[Any]], Extractor]


def new_buffers() -> list[Any]:
    """Empty buffers for one batch: a list of row tuples per table, or a list per column (COLUMNAR)."""
    return [[[] for _ in range(table_width(ti))] if ti in COLUMNAR else [] for ti in range(len(TABLES))]


def row_counters(buffers: list[Any]) -> list[list[Any]]:
    """Per table, the list whose length is its row count (the rows, or a COLUMNAR table's first column)."""
    return [buffer[0] if ti in COLUMNAR else buffer for ti, buffer in enumerate(buffers)]


def truncate(buffers: list[Any], counts: list[int]) -> None:
    """Cut every table back to `counts` rows: what an event the fast path declined had appended goes."""
    for ti, (buffer, count) in enumerate(zip(buffers, counts, strict=True)):
        for column in buffer if ti in COLUMNAR else (buffer,):
            del column[count:]


class NotExact(ValueError):
    """The fast path cannot reproduce this event exactly (e.g. a timestamp the walker would quarantine)."""


def iso_epoch_ms(value: int | str | None) -> int | None:
    """A timestamp leaf as the walker stores it (epoch ms), or NotExact where the walker would quarantine."""
    if value is None or type(value) is int:
        return value
    parsed = parse_timestamp(value)
    if type(parsed) is not int:
        raise NotExact(f"not an ISO 8601 timestamp: {value!r}")
    return parsed


def any_true(*values: bool | None) -> bool | None:
    """A derived flag: true when any source is true, false when one is seen and none is true, else NULL."""
    if True in values:
        return True
    return False if False in values else None


@dataclass
class _Shape:
    """How a trie node decodes: its msgspec type, its default, and (for objects) its Struct's field names."""

    type: Any
    default: Any = msgspec.NODEFAULT
    fields: dict[str, str] | None = None  # JSON key -> Struct field name


class _Structs:
    """Generates one frozen Struct per object node of a trie, bottom-up, and remembers each node's shape."""

    def __init__(self, api_version: int) -> None:
        self.api_version = api_version
        self.shapes: dict[int, _Shape] = {}

    def shape(self, node: Node) -> _Shape:
        if id(node) not in self.shapes:
            self.shapes[id(node)] = self._build(node)
        return self.shapes[id(node)]

    def _build(self, node: Node) -> _Shape:
        if node.children:
            return self._struct(node)
        if node.any is not None:
            value = self.shape(node.any)
            value_type = value.type if value.fields is None else value.type | None
            return _Shape(dict[str, value_type] | None, None)
        if node.item is not None:
            item = self.shape(node.item)  # an element is never null: a null one goes to the walker
            return _Shape(list[item.type if item.fields else _non_null(item.type)] | None, None)
        if node.leaves:
            accepted = frozenset.intersection(*(_leaf_accepts(kind, mode) for _, _, kind, mode in node.leaves))
            return _Shape(_TYPES[accepted] | None, None)
        raise ValueError(f"catalog node {node.path!r} has neither columns nor children")

    def root(self, node: Node, required: str) -> _Shape:
        """The event Struct; `required` is the key without which a body is not an event of this version."""
        self.shapes[id(node)] = self._struct(node, required)
        return self.shapes[id(node)]

    def _struct(self, node: Node, required: str | None = None) -> _Shape:
        names = {key: f"f{i}" for i, key in enumerate(node.children)}
        specs = []
        for key, child in node.children.items():
            shape = self.shape(child)
            if key == required:  # present and not null, or the body is not an event of this version
                required_type = shape.type if shape.fields is not None else _non_null(shape.type)
                specs.append((names[key], required_type, msgspec.NODEFAULT))
            elif shape.fields is not None:  # JSON null is absent, as in the walker: read as `value or EMPTY`
                specs.append((names[key], shape.type | None, shape.default))
            else:
                specs.append((names[key], shape.type, shape.default))
        name = "V{}_{}".format(self.api_version, node.path.replace(".", "_").replace("[]", "_item") or "root")
        struct = msgspec.defstruct(
            name,
            specs,
            rename={v: k for k, v in names.items()},
            forbid_unknown_fields=True,
            frozen=True,
            gc=False,
            kw_only=True,
        )
        optional = all(default is not msgspec.NODEFAULT for _, _, default in specs)
        return _Shape(struct, struct() if optional else msgspec.NODEFAULT, names)


def _leaf_accepts(kind: str, mode: Any) -> frozenset[str]:
    if mode == "any":
        return _ACCEPTS["bool"]
    if mode is not None:  # a value map reads strings
        return _ACCEPTS["string"]
    return _ACCEPTS[kind]


def _non_null(optional: Any) -> Any:
    """`T` of a leaf type `T | None`."""
    (inner,) = (t for t in optional.__args__ if t is not type(None))
    return inner


def _has_anchor(node: Node) -> bool:
    return bool(node.opens) or any(
        _has_anchor(child) for child in (*node.children.values(), node.any, node.item) if child is not None
    )


class _Emitter:
    """Writes the extractor's source: one row tuple per anchor, in the walker's depth-first row order."""

    def __init__(self, structs: _Structs) -> None:
        self.structs = structs
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def const(self, prefix: str, value: Any) -> str:
        name = self.fresh(prefix)
        self.consts[name] = value
        return name

    def node(self, node: Node, var: str, depth: int, slot: str | None, scope: dict[int, str]) -> None:
        """Rows opened at `node` (whose value is in `var` and present), then the anchors below it."""
        for opening in node.opens:
            self.row(node, var, depth, opening, slot, scope)
        for key, child in node.children.items():
            if _has_anchor(child):
                self.child(node, var, key, child, depth, dict(scope))
        if node.any is not None and _has_anchor(node.any):
            key, value = self.fresh("k"), self.fresh("v")
            self.line(depth, f"for {key}, {value} in ({var} or _NO_MAP).items():")
            self.line(depth + 1, f"if {value} is None: continue")
            self.node(node.any, value, depth + 1, key, {})
        if node.item is not None and _has_anchor(node.item):
            index, value = self.fresh("i"), self.fresh("v")
            self.line(depth, f"for {index}, {value} in enumerate({var} or ()):")
            self.node(node.item, value, depth + 1, index, {})

    def child(self, parent: Node, var: str, key: str, child: Node, depth: int, scope: dict[int, str]) -> None:
        value = self.value(parent, var, key, child, depth, scope)
        shape = self.structs.shape(child)
        if not child.opens or child.any is not None or child.item is not None:
            self.node(child, value, depth, repr(key), scope)
            return
        if shape.fields is not None:  # an object anchor: absent is the shared empty instance
            self.line(depth, f"if {value} is not {self.const('E', shape.default)}:")
        else:
            self.line(depth, f"if {value} is not None:")
        self.node(child, value, depth + 1, repr(key), scope)

    def value(self, parent: Node, var: str, key: str, child: Node, depth: int, scope: dict[int, str]) -> str:
        """A local holding `child`'s value, assigned once per scope."""
        if id(child) not in scope:
            name = self.fresh("n")
            shape = self.structs.shape(child)
            empty = "" if shape.fields is None else f" or {self.const('E', shape.default)}"
            self.line(depth, f"{name} = {var}.{self.structs.shape(parent).fields[key]}{empty}")
            scope[id(child)] = name
        return scope[id(child)]

    def row(self, node: Node, var: str, depth: int, opening: tuple, slot: Any, scope: dict[int, str]) -> None:
        """Append the row `node` opens: `opening` is (table index, fixed cells, index of the slot cell or None)."""
        ti, fixed, slot_index = opening
        cells = ["None"] * table_width(ti)
        cells[0], cells[1] = "rid", "ver"
        for index, constant in fixed:
            cells[index] = repr(constant)
        if slot_index is not None:
            cells[slot_index] = slot
        sources: dict[int, list[str]] = {}
        modes: dict[int, Any] = {}
        for ci, expression, mode in self.leaves(node, var, depth, ti, scope):
            sources.setdefault(ci, []).append(expression)
            modes[ci] = mode
        for ci, expressions in sources.items():
            if modes[ci] == "any":
                cells[ci] = f"_any({', '.join(expressions)})"
            elif len(expressions) == 1:
                cells[ci] = expressions[0]
            else:
                raise ValueError(f"column {TABLES[ti].name}[{ci}] has several sources at {node.path!r}")
        if ti in COLUMNAR:  # a failure between two appends is undone by `truncate`
            for ci, cell in enumerate(cells):
                self.line(depth, f"c{ti}_{ci}({cell})")
        else:
            self.line(depth, f"a{ti}(({', '.join(cells)},))")

    def leaves(self, node: Node, var: str, depth: int, ti: int, scope: dict[int, str]):
        """(column index, expression, mode) of every leaf of table `ti` below `node` (objects only)."""
        for _, ci, kind, mode in (leaf for leaf in node.leaves if leaf[0] == ti):
            yield ci, self.cast(node, var, kind, mode), mode
        for key, child in node.children.items():
            if any(leaf[0] == ti for leaf in _subtree_leaves(child)):
                yield from self.leaves(child, self.value(node, var, key, child, depth, scope), depth, ti, scope)

    def cast(self, node: Node, var: str, kind: str, mode: Any) -> str:
        """The walker's stored value of a leaf whose (valid or None) value is in `var`."""
        if mode is not None and mode != "any":
            return f"{self.const('M', dict(mode[1]))}.get({var}, {var})"
        if kind == "json":  # inline: a call per value costs as much as the encoding
            return f"(None if {var} is None else _dumps({var}).decode())"
        if kind == "timestamp" and _leaf_accepts_all(node) != _ACCEPTS["int"]:
            return f"_ts({var})"
        return var


def _subtree_leaves(node: Node):
    yield from node.leaves
    for child in node.children.values():
        yield from _subtree_leaves(child)


def _leaf_accepts_all(node: Node) -> frozenset[str]:
    return frozenset.intersection(*(_leaf_accepts(kind, mode) for _, _, kind, mode in node.leaves))


_REQUIRED = {3: "products", 4: "event_id"}  # as `transforms.flatten` checks an event's shape


def extractor_source(api_version: int) -> tuple[str, dict[str, Any]]:
    """The generated extractor's source and its constants (print the source to debug a catalog change)."""
    structs = _Structs(api_version)
    root = build_trie(api_version)
    event = structs.root(root, _REQUIRED[api_version])
    emitter = _Emitter(structs)
    emitter.line(0, "def bind(rows):")
    for ti in range(len(TABLES)):
        if ti in COLUMNAR:
            emitter.line(1, "; ".join(f"c{ti}_{ci} = rows[{ti}][{ci}].append" for ci in range(table_width(ti))))
        else:
            emitter.line(1, f"a{ti} = rows[{ti}].append")
    emitter.line(1, "def extract(body, rid, ver):")
    emitter.line(2, "ev = _decode(body)")
    emitter.node(root, "ev", 2, None, {})
    emitter.line(1, "return extract")
    consts = {
        **emitter.consts,
        "_decode": msgspec.json.Decoder(event.type).decode,
        "_NO_MAP": {},
        "_any": any_true,
        "_dumps": orjson.dumps,
        "_ts": iso_epoch_ms,
    }
    return "\n".join(emitter.lines), consts


@cache
def compile_extractor(api_version: int) -> Binder | None:
    """The fast path of one API version (None for a version the catalog has no paths for)."""
    if api_version not in _REQUIRED:
        return None
    source, consts = extractor_source(api_version)
    namespace = dict(consts)
    exec(compile(source, f"<catalog extractor v{api_version}>", "exec"), namespace)
    return namespace["bind"]
