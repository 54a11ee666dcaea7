"""What analysts see: the published data files of every table and day, changed one whole day at a time.

Iceberg commits one table at a time, and a day spans many tables (its log occurrences, events, feeds ...). So
the warehouse keeps its own consistent cut: rows `(table, day, file)` in the catalog database, replaced for one day
in one database transaction when that day is published. Readers (fingerprint.duckdb, `./fpwh sql`, feeds, the
dashboard) build their views from one read of these rows, so they see every table of a day old or every table new,
whatever other runs do meanwhile. Between staging and publishing, a day's new files are listed as staged.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

import orjson
import sqlalchemy as sa

from pipelines.state import PUBLICATIONS, PUBLISHED, STAGED, SUPERSEDED, ensure_schema
from pipelines.storage.lake import DataFile

FilesByTable = dict[str, list[DataFile]]
_EMPTY = DataFile("", 0)  # the row that says "this table's day is empty"


class Publication:
    """The staged and published files of one warehouse, in its catalog database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        ensure_schema(engine)

    def stage(self, day: date, table: str, files: list[DataFile]) -> list[DataFile]:
        """Record `files` as the day's staged files of `table`; return the ones they replace (never published)."""
        key = day.isoformat()
        where = (STAGED.c.day == key) & (STAGED.c.table_name == table)
        with self.engine.begin() as con:
            replaced = [DataFile(r.path, r.rows) for r in con.execute(sa.select(STAGED).where(where))]
            con.execute(sa.delete(STAGED).where(where))
            marked = files or [_EMPTY]  # a day with no rows is staged too: its partition must become empty
            rows = [
                {"day": key, "table_name": table, "path": f.uri, "rows": f.rows, "staged_at": time.time()}
                for f in marked
            ]
            con.execute(sa.insert(STAGED), rows)
        return [f for f in replaced if f.uri]

    def staged(self, day: date) -> FilesByTable:
        """The day's staged files, by table."""
        with self.engine.connect() as con:
            rows = con.execute(sa.select(STAGED).where(STAGED.c.day == day.isoformat()))
            return _by_table(rows)

    def staged_tables(self, day: date) -> set[str]:
        """Tables with a staging record for `day` (possibly of zero files: an empty day)."""
        return set(self.staged(day))

    def publish(self, day: date, files: Mapping[str, list[DataFile]]) -> int:
        """Make `files` the day's published files of their tables, all at once; return the publication's number."""
        key, now = day.isoformat(), time.time()
        with self.engine.begin() as con:
            for table, table_files in files.items():
                where = (PUBLISHED.c.day == key) & (PUBLISHED.c.table_name == table)
                kept = {f.uri for f in table_files}
                replaced = [r.path for r in con.execute(sa.select(PUBLISHED.c.path).where(where)) if r.path]
                superseded = [
                    {"path": path, "table_name": table, "day": key, "superseded_at": now}
                    for path in replaced
                    if path not in kept
                ]
                if superseded:
                    con.execute(sa.insert(SUPERSEDED), superseded)
                con.execute(sa.delete(PUBLISHED).where(where))
                rows = [
                    {"table_name": table, "day": key, "path": f.uri, "rows": f.rows, "published_at": now}
                    for f in table_files or [_EMPTY]
                ]
                con.execute(sa.insert(PUBLISHED), rows)
                con.execute(sa.delete(STAGED).where((STAGED.c.day == key) & (STAGED.c.table_name == table)))
            result = con.execute(
                sa.insert(PUBLICATIONS).values(day=key, tables=orjson.dumps(sorted(files)).decode(), published_at=now)
            )
            return int(result.inserted_primary_key[0])

    def files(self, tables: Iterable[str] | None = None, except_day: date | None = None) -> FilesByTable:
        """The published files of every table (or of `tables`; all days or all but one), read at one point in time."""
        query = sa.select(PUBLISHED).order_by(PUBLISHED.c.table_name, PUBLISHED.c.day, PUBLISHED.c.path)
        if tables is not None:
            query = query.where(PUBLISHED.c.table_name.in_(list(tables)))
        if except_day is not None:
            query = query.where(PUBLISHED.c.day != except_day.isoformat())
        with self.engine.connect() as con:
            return _by_table(con.execute(query))

    def day_files(self, table: str, day: date) -> list[DataFile]:
        where = (PUBLISHED.c.table_name == table) & (PUBLISHED.c.day == day.isoformat())
        with self.engine.connect() as con:
            return [DataFile(r.path, r.rows) for r in con.execute(sa.select(PUBLISHED).where(where)) if r.path]

    def days(self, table: str) -> list[date]:
        """The days `table` has published (possibly empty) partitions for, oldest first."""
        with self.engine.connect() as con:
            rows = con.execute(sa.select(PUBLICATIONS.c.day, PUBLICATIONS.c.tables))
            found = {date.fromisoformat(r.day) for r in rows if table in orjson.loads(r.tables)}
        return sorted(found)

    def tables_holding(self, day: date) -> set[str]:
        """Tables with rows of `day` staged or published (possibly none: an empty day is held too)."""
        key = day.isoformat()
        with self.engine.connect() as con:
            published = con.execute(sa.select(PUBLISHED.c.table_name).where(PUBLISHED.c.day == key).distinct())
            found = {r.table_name for r in published}
        return found | self.staged_tables(day)

    def superseded(self, older_than: float, keep_generations: int) -> list[str]:
        """Replaced files that may go: superseded before `older_than` (epoch seconds), or behind more than
        `keep_generations` later replacements of the same table and day."""
        query = sa.select(SUPERSEDED).order_by(SUPERSEDED.c.superseded_at.desc())
        with self.engine.connect() as con:
            rows = con.execute(query).fetchall()
        generations: dict[tuple[str, str], list[float]] = defaultdict(list)
        expired = []
        for row in rows:
            seen = generations[(row.table_name, row.day)]
            if row.superseded_at not in seen:
                seen.append(row.superseded_at)
            if row.superseded_at < older_than or len(seen) > keep_generations:
                expired.append(row.path)
        return expired

    def superseded_of(self, tables: Iterable[str], days: Iterable[str]) -> list[str]:
        """Every replaced file of `tables` on `days` (ISO dates), whatever its age: what an erasure deletes now."""
        where = SUPERSEDED.c.table_name.in_(list(tables)) & SUPERSEDED.c.day.in_(list(days))
        with self.engine.connect() as con:
            return [r.path for r in con.execute(sa.select(SUPERSEDED.c.path).where(where))]

    def forget_superseded(self, paths: Iterable[str]) -> None:
        """The files `paths` were deleted."""
        paths = list(paths)
        with self.engine.begin() as con:
            for start in range(0, len(paths), 500):
                con.execute(sa.delete(SUPERSEDED).where(SUPERSEDED.c.path.in_(paths[start : start + 500])))

    def entries(self) -> list[tuple[str, date, str]]:
        """(table, day, file URI) of every published and staged file: what an integrity check reads."""
        with self.engine.connect() as con:
            published = con.execute(sa.select(PUBLISHED.c.table_name, PUBLISHED.c.day, PUBLISHED.c.path)).all()
            staged = con.execute(sa.select(STAGED.c.table_name, STAGED.c.day, STAGED.c.path)).all()
        return [(r.table_name, date.fromisoformat(r.day), r.path) for r in [*published, *staged] if r.path]

    def names(self, uri: str) -> bool:
        """True while a published or staged row names `uri`."""
        with self.engine.connect() as con:
            return any(
                con.execute(sa.select(table.c.path).where(table.c.path == uri).limit(1)).first() is not None
                for table in (PUBLISHED, STAGED)
            )

    def drop_file(self, uri: str) -> None:
        """`uri` is gone (corrupt, set aside): no publication or staging names it; its table's day keeps the rest."""
        with self.engine.begin() as con:
            for table in (PUBLISHED, STAGED):
                held = con.execute(sa.select(table.c.table_name, table.c.day).where(table.c.path == uri)).all()
                con.execute(sa.delete(table).where(table.c.path == uri))
                for row in held:
                    same = (table.c.table_name == row.table_name) & (table.c.day == row.day)
                    if not con.execute(sa.select(sa.func.count()).select_from(table).where(same)).scalar_one():
                        con.execute(sa.insert(table).values(**_empty_row(table, row.table_name, row.day)))

    def latest(self) -> int:
        """The number of the newest publication (0 before the first)."""
        with self.engine.connect() as con:
            return int(con.execute(sa.select(sa.func.coalesce(sa.func.max(PUBLICATIONS.c.seq), 0))).scalar_one())

    def referenced(self) -> set[str]:
        """Every file a published, staged or superseded row names: the files a debris sweep must keep."""
        with self.engine.connect() as con:
            published = {r.path for r in con.execute(sa.select(PUBLISHED.c.path))}
            staged = {r.path for r in con.execute(sa.select(STAGED.c.path))}
            superseded = {r.path for r in con.execute(sa.select(SUPERSEDED.c.path))}
        return (published | staged | superseded) - {""}


def _empty_row(table: sa.Table, name: str, day: str) -> dict[str, object]:
    """The row that keeps a table's day held (and empty) once its last file is gone."""
    stamp = "published_at" if table is PUBLISHED else "staged_at"
    return {"table_name": name, "day": day, "path": _EMPTY.uri, "rows": 0, stamp: time.time()}


def _by_table(rows: Iterable[sa.Row]) -> FilesByTable:
    found: FilesByTable = defaultdict(list)
    for row in rows:
        files = found[row.table_name]
        if row.path:
            files.append(DataFile(row.path, row.rows))
    return dict(found)
