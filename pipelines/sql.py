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
