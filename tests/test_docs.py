"""The README tells the truth: its data dictionary is the registry's, and its two commands exist."""

from pathlib import Path

from pipelines.docs import README, render

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_data_dictionary_matches_the_table_registry():
    text = README.read_text()
    assert render(text) == text, "run: .venv/bin/python -m pipelines.docs --write"


def test_the_readme_opens_with_the_demo_and_test_commands_and_ci_runs_the_test_command():
    head = README.read_text().split("\n## ")[0]
    assert "./fpwh demo" in head and "./fpwh test" in head
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "./fpwh test"
