"""The descriptions `fingerprint.duckdb` carries as DuckDB comments (`COMMENT ON`), so that DBeaver, the DuckDB CLI
and BI tools show what every table, view and column means, from the same declarations as the README.

A lake table's view is described by the table registry (`pipelines.tables`: the catalog, the feeds, the log and
fetch tables); an analyst view by its SQL file: the first line says what it answers and a `-- ` comment on an
output column describes that column (`pipelines.sql.column_descriptions`). A view column without a comment of its
own passes a column through, and inherits the description of the first relation its SQL reads that has a column of
that name. Only relations and columns the database holds are commented, so no statement names a missing one.

Publishing calls `apply_comments(con, sql_files)` once every relation exists, whatever writes the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from pipelines.sql import column_descriptions, first_line
from pipelines.tables import WAREHOUSE_TABLES

DAY_DESCRIPTION = "Partition: the application log's UTC day."
# The publisher's own bookkeeping table (`pipelines.storage.warehouse`), described here with everything else.
META_TABLE = "_fpwh_meta"
META_DESCRIPTIONS = {
    "": "When, by which version and over which publication this file was built (one row).",
    "built_at": "When this file was published.",
    "fpwh_version": "Version of fp-events-warehouse that built it.",
    "storage_compatibility_version": "Oldest DuckDB storage format it is written for (DuckDB 1.1 and newer open it).",
    "tables": "The lake tables it has a view of.",
    "publication": "Number of the publication its views read (one per published day, increasing).",
}


def described_relations(sql_files: Sequence[Path]) -> dict[str, dict[str, str]]:
    """Relation → {"": its description, column: description}, for the registry's tables and the SQL views.

    `sql_files` come in dependency order (`pipelines.sql.view_files`), so a view reading another finds it described.
    """
    described: dict[str, dict[str, str]] = {META_TABLE: META_DESCRIPTIONS}
    for table in WAREHOUSE_TABLES.values():
        columns = {name: table.described(name) for name in table.columns}
        described[table.name] = {"": table.description, **columns, "day": DAY_DESCRIPTION}
    for path in sql_files:
        described[path.stem] = _view_descriptions(path, described)
    return described


# `FROM events AS e`, `JOIN ip_info g`: a relation a view reads, and the alias it reads it by.
_SOURCE = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.IGNORECASE)
# `e.vpn,` or `e.ip_v4_asn AS ip_asn,` alone on a line: a column passed through, perhaps renamed.
_PASSED = re.compile(r"^\s*(?:(\w+)\.)?(\w+)(?:\s+AS\s+(\w+))?\s*,?\s*(?:--.*)?$", re.IGNORECASE)


def _view_descriptions(path: Path, described: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A view's own `-- ` comments, else the description of the column it passes through, else of any column of
    that name in the relations it reads (the first read wins)."""
    text = path.read_text(encoding="utf-8")
    sources = {m.group(1): m.group(2) for m in _SOURCE.finditer(text) if m.group(1) in described}
    aliases = {alias or name: name for name, alias in sources.items()}
    by_name: dict[str, str] = {}
    for source in reversed(list(sources)):
        by_name.update({c: d for c, d in described[source].items() if c and d})
    passed: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        match = _PASSED.match(line)
        relation = aliases.get(match.group(1) or "") if match else None
        if match and relation and described[relation].get(match.group(2)):
            passed[match.group(3) or match.group(2)] = described[relation][match.group(2)]
    return {**by_name, **passed, **column_descriptions(path), "": first_line(path)}


def comment_statements(
    relations: Mapping[str, tuple[str, Sequence[str]]], described: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """`COMMENT ON` statements for `relations` (name → ("TABLE" or "VIEW", its columns)) from `described`."""
    statements = []
    for name, (kind, columns) in relations.items():
        descriptions = described.get(name, {})
        if descriptions.get(""):
            statements.append(f"COMMENT ON {kind} {_identifier(name)} IS {_literal(descriptions[''])}")
        statements += [
            f"COMMENT ON COLUMN {_identifier(name)}.{_identifier(column)} IS {_literal(descriptions[column])}"
            for column in columns
            if descriptions.get(column)
        ]
    return statements


def apply_comments(con: duckdb.DuckDBPyConnection, sql_files: Sequence[Path]) -> None:
    """Comment every table, view and column of the database `con` is connected to."""
    kinds = dict(con.execute("SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal").fetchall())
    kinds |= dict(con.execute("SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT internal").fetchall())
    columns: dict[str, list[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal"
    ).fetchall():
        columns.setdefault(table, []).append(column)
    relations = {name: (kind, columns.get(name, [])) for name, kind in kinds.items()}
    con.begin()  # one transaction: ~500 catalog changes cost 0.01 s instead of 1.3 s (each would commit alone)
    for statement in comment_statements(relations, described_relations(sql_files)):
        con.execute(statement)
    con.commit()


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
