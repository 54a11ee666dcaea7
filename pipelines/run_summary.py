"""What one day's run did, in the few lines an operator reads after `fpwh run`: read from the run's own events.

The numbers are the metadata the assets report (the same the Dagster UI shows), so the summary and the UI never
disagree: request IDs logged, fetch outcomes, rejected log lines by reason, API calls, rows per table, and the
asset checks passed, warned (a WARN check that did not pass), failed or not run (blocked upstream).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from pipelines.day_inputs import is_clean

_PLANNED_CHECK = dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value


@dataclass(frozen=True)
class DaySummary:
    """One day's run: its status, the assets' numbers and the checks' verdicts."""

    day: str
    run_id: str
    success: bool
    seconds: float
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset → metadata values
    checks: dict[str, str] = field(default_factory=dict)  # check → passed / warned / failed / not run
    failure: str | None = None
    up_to_date_since: str | None = None  # not run: nothing changed since this clean run (`pipelines.day_inputs`)

    @classmethod
    def of(cls, day: str, result: dg.ExecuteInProcessResult, seconds: float) -> DaySummary:
        metadata = {
            event.asset_key.to_user_string(): _values(event.step_materialization_data.materialization.metadata)
            for event in result.get_asset_materialization_events()
            if event.asset_key is not None
        }
        planned = {
            event.event_specific_data.check_name: "not run"  # type: ignore[union-attr]
            for event in result.filter_events(lambda e: e.event_type_value == _PLANNED_CHECK)
        }
        verdicts = {check.check_name: _verdict(check) for check in result.get_asset_check_evaluations()}
        failures = result.get_step_failure_events()
        failure = f"{failures[0].step_key}: {_first_line(failures[0])}" if failures else None
        return cls(day, result.run_id, result.success, seconds, metadata, {**planned, **verdicts}, failure)

    @classmethod
    def up_to_date(cls, day: str, last_run: Mapping[str, Any]) -> DaySummary:
        """A day not run, because nothing it reads changed since `last_run` (its ID and end time)."""
        since = f"run {str(last_run.get('run_id', ''))[:8]}, {last_run.get('finished_at', '?')}"
        return cls(day, str(last_run.get("run_id", "")), True, 0.0, up_to_date_since=since)

    @property
    def clean(self) -> bool:
        """Succeeded with every logged ID final and no failed check: running it again could change nothing."""
        outcomes = self.number("raw_events", "outcomes_total", {}) or {}
        failed_checks = sum(verdict in ("failed", "not run") for verdict in self.checks.values())
        return self.success and is_clean(outcomes, self.number("raw_events", "still_to_do"), failed_checks)

    def number(self, asset: str, name: str, default: Any = 0) -> Any:
        return self.metadata.get(asset, {}).get(name, default)

    def lines(self) -> list[str]:
        """The day's block of the closing summary."""
        if self.up_to_date_since:
            return [
                f"{self.day}  up to date: logs, settings and code unchanged since {self.up_to_date_since} (--force)"
            ]
        status = "ok" if self.success else "FAILED"
        head = f"{self.day}  {status} in {self.seconds:.1f} s  (run {self.run_id[:8]})"
        if self.failure:
            head += f"\n  failed   {self.failure}"
        return [head, *self._body()]

    def _body(self) -> list[str]:
        logs, fetch = "app_log_occurrences", "raw_events"
        rejected = self.number(logs, "rejected_lines", {}) or {}
        outcomes = self.number(fetch, "outcomes_total", {}) or {}
        rows = {k: v["dagster/row_count"] for k, v in self.metadata.items() if "dagster/row_count" in v}
        lines = [
            f"  logs     {self.number(logs, 'distinct_request_ids')} request IDs logged "
            f"({self.number(logs, 'occurrences')} occurrences) in {self.number(logs, 'files_read')} of "
            f"{self.number(logs, 'files_matched')} files; rejected lines: {_counts(rejected) or 'none'}",
            f"  fetch    ok {outcomes.get('ok', 0)} · not found {outcomes.get('not_found', 0)} · failed "
            f"{outcomes.get('failed', 0)}; {self.number(fetch, 'api_calls')} API calls this run",
        ]
        if rows:
            lines += textwrap.wrap(
                _counts(rows, sort=False), 116, initial_indent="  rows     ", subsequent_indent=" " * 11
            )
        lines.append(f"  checks   {self._checks()}")
        return lines if logs in self.metadata else lines[-1:]

    def _checks(self) -> str:
        by_verdict: dict[str, list[str]] = {}
        for name, verdict in sorted(self.checks.items()):
            by_verdict.setdefault(verdict, []).append(name)
        parts = []
        for verdict in ("passed", "warned", "failed", "not run"):
            names = by_verdict.get(verdict, [])
            named = f" ({', '.join(names)})" if names and verdict != "passed" else ""
            parts.append(f"{len(names)} {verdict}{named}")
        return " · ".join(parts)


def _verdict(check: dg.AssetCheckEvaluation) -> str:
    if check.passed:
        return "passed"
    return "warned" if check.severity == dg.AssetCheckSeverity.WARN else "failed"


def _values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {name: getattr(value, "value", value) for name, value in metadata.items()}


def _counts(counts: Mapping[str, int], sort: bool = True) -> str:
    items = sorted(counts.items(), key=lambda kv: -kv[1]) if sort else list(counts.items())
    return " · ".join(f"{name} {count:,}" for name, count in items)


def _first_line(event: dg.DagsterEvent) -> str:
    """The user's own exception, not Dagster's wrapper around it: its first line is what to fix."""
    error = event.step_failure_data.error
    while error is not None and error.cause is not None:
        error = error.cause
    message = error.message.strip() if error is not None else ""
    return message.splitlines()[0] if message else "step failed"
