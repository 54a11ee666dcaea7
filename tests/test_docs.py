"""The README tells the truth: its data dictionary is the registry's, and its two commands exist."""

from pathlib import Path

from pipelines.docs import README, render

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_data_dictionary_matches_the_table_registry():
    text = README.read_text()
    assert render(text) == text, "run: .venv/bin/python -m pipelines.docs --write"


def test_the_data_dictionary_shows_duckdb_sql_types_and_the_views_columns():
    text = README.read_text()
    assert "| `timestamp` | TIMESTAMP WITH TIME ZONE |" in text and "| BIGINT |" in text
    assert "Datetime(" not in text and "| Int64 |" not in text  # no polars reprs
    assert "##### `daily_metrics`" in text and "| `requests` | BIGINT |" in text


def test_the_readme_opens_with_the_demo_and_test_commands_and_ci_runs_the_test_command():
    head = README.read_text().split("\n## ")[0]
    assert "./fpwh demo" in head and "./fpwh test" in head
    operators = README.read_text().split("dagster asset materialize")[0]
    assert "./fpwh check" in operators and "./fpwh run " in operators  # shown before Dagster's own command
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "./fpwh test"
