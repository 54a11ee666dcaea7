"""What `./fpwh demo` prints beside the queries (the demo itself runs for minutes: `./fpwh demo`)."""

from demo.__main__ import unknown_fields_line


def test_the_demo_says_in_one_line_which_unknown_fields_it_saw_and_why(planted):
    counts = dict(planted.sql("SELECT json_path, sum(occurrences) FROM unknown_fields GROUP BY ALL").iter_rows())
    line = unknown_fields_line(planted.warehouse)

    assert counts, "the planted days carry the simulator's unknown fields"
    assert "\n" not in line
    assert all(f"{path} x{count}" in line for path, count in counts.items())
    assert "the real API adds fields without notice" in line and "no_unknown_api_fields" in line
