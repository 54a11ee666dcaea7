"""The fault-injection suite's report (not a test): runs `tests/test_faults.py` and prints one line per fault class.

    .venv/bin/python benchmarks/faults_report.py            # every fault class, the slow kill points included
    .venv/bin/python benchmarks/faults_report.py -k disk    # a selection (pytest's -k)

Each test of the suite appends its row to $FPWH_FAULTS_REPORT; this script points that at a temp file, runs
pytest and prints the rows as a Markdown table: events expected (the fault-free run's truth), landed and
duplicated after recovery, API calls beyond one per logged request ID, and temp-file bytes left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("fault", "expected", "landed", "duplicated", "extra_calls", "leftover_bytes")


def main(args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "faults.jsonl"
        env = {**os.environ, "FPWH_FAULTS_REPORT": str(report), "DAGSTER_DISABLE_TELEMETRY": "1"}
        command = [sys.executable, "-m", "pytest", "tests/test_faults.py", "-q", "-p", "no:cacheprovider", *args]
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL).returncode
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    print("| fault class | events expected | landed | duplicated | extra API calls | leftover bytes |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(row[name]) for name in COLUMNS) + " |")
    print(f"pytest exit code: {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
