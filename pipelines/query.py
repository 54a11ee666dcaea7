"""`fpwh sql ["SELECT ..."]`: an analyst's one line to the current warehouse, wherever it lives.

With a query, it opens a reader of the newest publication (`Warehouse.reader()`: the same views as
`fingerprint.duckdb`, over that publication's files, local or `s3://`), runs the query and prints the result, so
a remote warehouse is as easy to ask as a local one. Without a query it opens the `duckdb` shell when that CLI is
on PATH (read-only on `fingerprint.duckdb` for a local warehouse), else prints how to get one.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

import duckdb
import polars as pl

from pipelines.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 1
ONE_LINER = (
    '.venv/bin/python -c "from pipelines.settings import Settings; from pipelines.tables import open_warehouse; '
    "con = open_warehouse(Settings.from_env(require_key=False).warehouse).reader(); "
    "print(con.sql('SELECT day, count(*) FROM events GROUP BY day ORDER BY day'))\""
)


def run_query(settings: Settings, query: str, csv: bool = False) -> int:
    """Print `query`'s result over the newest publication (a table, or CSV); a SQL error is one line, exit 1."""
    from pipelines.tables import open_warehouse

    store = open_warehouse(settings.warehouse)
    if store.publication.latest() == 0:
        print(f"fpwh sql: nothing is published in {settings.warehouse.location.uri()} yet: run a day first",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    with store.reader() as con:
        try:
            relation = con.sql(query)
            if relation is None:  # a statement without a result (SET, a view in the reader's memory)
                return EXIT_OK
            frame = relation.pl()
        except duckdb.Error as error:
            print(f"fpwh sql: {str(error).splitlines()[0]}", file=sys.stderr)
            return EXIT_FAILED
    if csv:
        sys.stdout.write(frame.write_csv())
    else:
        with pl.Config(
            tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=200, tbl_width_chars=200, tbl_hide_dataframe_shape=True
        ):
            print(frame)
    return EXIT_OK


def shell(settings: Settings, argv: Sequence[str] = ()) -> int:
    """Open the `duckdb` CLI on a local warehouse's `fingerprint.duckdb` (read-only), else say how to query."""
    location = settings.warehouse.location
    cli = shutil.which("duckdb")
    if cli and not location.is_remote:
        database = location.local_root / "fingerprint.duckdb"
        os.execv(cli, [cli, "-readonly", str(database), *argv])
    print(how_to_query(settings, cli_found=cli is not None))
    return EXIT_OK


def how_to_query(settings: Settings, cli_found: bool) -> str:
    """What an analyst can run instead of an interactive shell, for this warehouse's location."""
    location = settings.warehouse.location
    lines = ['Run a query:   ./fpwh sql "SELECT day, count(*) FROM events GROUP BY day ORDER BY day"']
    if location.is_remote:
        lines += [
            f"The warehouse is in object storage ({location.uri()}): `./fpwh sql QUERY` reads it through the",
            "current publication; from Python (same views as `./fpwh sql`):",
            f"  {ONE_LINER}",
            'Other engines read its Iceberg tables through the catalog: see README, "Querying the warehouse".',
        ]
        return "\n".join(lines)
    database = location.local_root / "fingerprint.duckdb"
    if not cli_found:
        lines.append("The duckdb CLI is not on PATH (https://duckdb.org/docs/installation); with it:")
    lines += [
        f"  duckdb -readonly {database}",
        "or from Python:",
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{database}', read_only=True)"
        ".sql('SELECT day, count(*) FROM events GROUP BY day ORDER BY day'))\"",
    ]
    return "\n".join(lines)
