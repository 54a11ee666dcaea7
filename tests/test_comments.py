"""fingerprint.duckdb documents itself: every table, view and column carries its description as a DuckDB comment."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.comments import comment_statements, described_relations
from pipelines.settings import WarehouseSettings
from pipelines.sql import column_descriptions, first_line, view_files, view_path
from pipelines.tables import WAREHOUSE_TABLES, open_warehouse


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse published with every registered table and every analyst view (no data needed)."""
    root = tmp_path_factory.mktemp("published")
    return open_warehouse(WarehouseSettings(directory=str(root))).write_database()


def comments(database: Path, sql: str) -> dict:
    with duckdb.connect(str(database), read_only=True) as con:
        return {tuple(row[:-1]): row[-1] for row in con.execute(sql).fetchall()}


def test_every_table_view_and_column_of_the_warehouse_carries_a_description(published: Path):
    columns = comments(published, "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal")
    views = comments(published, "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal")
    tables = comments(published, "SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal")
    assert len(columns) > 400 and len(views) == len(WAREHOUSE_TABLES) + len(view_files())
    assert [key for key, text in {**columns, **views, **tables}.items() if not text] == []


def test_a_description_comes_from_the_registry_or_the_sql_file_where_the_column_is_computed(published: Path):
    columns = comments(published, "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal")
    views = comments(published, "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal")
    assert columns[("events", "visitor_id")] == WAREHOUSE_TABLES["events"].columns["visitor_id"]
    assert views[("feed_daily_traffic",)] == WAREHOUSE_TABLES["feed_daily_traffic"].description
    assert views[("daily_metrics",)] == first_line(view_path("daily_metrics"))
    assert columns[("daily_metrics", "requests")] == column_descriptions(view_path("daily_metrics"))["requests"]
    # a view column passed through under a new name keeps its source's description
    assert columns[("event_risk", "ip_asn")] == WAREHOUSE_TABLES["events"].columns["ip_v4_asn"]
    assert columns[("app_requests_enriched", "fetch_outcome")] == WAREHOUSE_TABLES["fetches"].columns["outcome"]


def test_descriptions_are_quoted_and_only_existing_columns_are_commented():
    described = {"t": {"": "It's a table.", "a": 'Say "hi"', "gone": "not in the database"}}
    statements = comment_statements({"t": ("TABLE", ["a", "b"])}, described)
    assert statements == [
        """COMMENT ON TABLE "t" IS 'It''s a table.'""",
        """COMMENT ON COLUMN "t"."a" IS 'Say "hi"'""",
    ]


def test_views_are_described_in_dependency_order_so_a_view_inherits_from_another_view():
    described = described_relations(view_files())
    assert described["suspicious_requests"]["rules_fired"]
    assert described["app_requests_enriched"]["rules_fired"] != described["suspicious_requests"]["rules_fired"]
