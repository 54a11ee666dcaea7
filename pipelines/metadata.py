"""Small helpers that turn results into what the Dagster UI shows: counts and Markdown previews."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import polars as pl


def counts(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())


def markdown_table(df: pl.DataFrame, max_rows: int = 5, max_chars: int = 40) -> str:
    """A short Markdown preview of a DataFrame (long values cut) for MetadataValue.md."""
    if not df.height:
        return "_no rows_"
    head = df.head(max_rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        cells = ("" if v is None else str(v)[:max_chars].replace("|", "\\|") for v in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
