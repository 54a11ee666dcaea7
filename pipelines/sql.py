"""Load the DuckDB SQL in `sql/` by name, views in dependency order."""

from __future__ import annotations

import graphlib
import re
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


def view_files() -> list[Path]:
    """`sql/views/*.sql`, ordered so that a view comes after every view it reads."""
    files = {p.stem: p for p in sorted((SQL_DIR / "views").glob("*.sql"))}
    reads = {
        name: {other for other in files if other != name and re.search(rf"\b{other}\b", path.read_text())}
        for name, path in files.items()
    }
    try:
        return [files[name] for name in graphlib.TopologicalSorter(reads).static_order()]
    except graphlib.CycleError as error:
        raise ValueError(f"sql/views has a dependency cycle among {error.args[1]}") from None


def query(name: str) -> str:
    """The text of `sql/queries/<name>.sql`."""
    return (SQL_DIR / "queries" / f"{name}.sql").read_text()


def first_line(path: Path) -> str:
    """The one-line comment on top of a SQL file: what it answers."""
    return path.read_text().splitlines()[0].removeprefix("--").strip()


# `count(*) AS requests, -- what it is` or `    l.requests, -- what it is`: an output column and its description.
_DESCRIBED = re.compile(r"(?:\bAS\s+(\w+)|^\s*(?:\w+\.)?(\w+))\s*,?\s*--\s*(.+?)\s*$", re.IGNORECASE)


def column_descriptions(path: Path) -> dict[str, str]:
    """The `-- description` comments of the output columns of a SQL file, by column name.

    Every view and feed describes its columns where it computes them, so the DuckDB comments, the data dictionary
    and the feeds' declarations all read the one definition.
    """
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        match = _DESCRIBED.search(line)
        if match and not line.lstrip().startswith("--"):
            found[match.group(1) or match.group(2)] = match.group(3)
    return found


def view_path(name: str) -> Path:
    return SQL_DIR / "views" / f"{name}.sql"
