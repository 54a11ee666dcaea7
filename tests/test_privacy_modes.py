"""Privacy settings end to end: every table stores IPs and URLs as set, and one day never mixes two forms."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import polars as pl
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job

from pipelines.definitions import build_definitions
from pipelines.tables import PRIVATE_TABLES
from transforms.privacy import hash_ip, truncate_ip

KEY = "test-privacy-key-0123456789"
TRUNCATE = {"ip": "truncate", "url": "strip_query"}
ADDRESS = re.compile(r"[0-9A-Fa-f:.]{7,}")


def full_addresses(world) -> set[str]:
    """Every address the simulator gave the logged events (those that truncation would change)."""
    found = set()
    for (rid,) in world.query("SELECT DISTINCT request_id FROM app_requests"):
        if world.sim.population.exists(rid):
            facts = world.sim.population.facts(rid)
            found |= {facts.ip, facts.ip_v4.address} | ({facts.ip_v6.address} if facts.ip_v6 else set())
    return {a for a in found if truncate_ip(a) != str(ipaddress.ip_address(a))}


def lake_strings(warehouse: Path) -> dict[str, list[str]]:
    """Every string value of every table's data files (published or not), decoded from Parquet, by table.

    Bronze is left out: it keeps the raw responses as received, by design (FPWH_RAW_RETENTION_DAYS drops them).
    """
    values: dict[str, list[str]] = {}
    for file in sorted(warehouse.rglob("*.parquet")):
        if "bronze" in file.parts:
            continue
        table = file.parts[file.parts.index("data") - 1]  # <table>/data/day=.../<file>.parquet
        df = pl.read_parquet(file)
        strings = [c for c, t in df.schema.items() if t == pl.String]
        values.setdefault(table, []).extend(v for c in strings for v in df[c].drop_nulls().to_list())
    return values


def silver_only(world, day, **groups) -> bool:
    """Materialize only the silver tables of `day` (as `--select 'group:silver'` does)."""
    defs = build_definitions(world.settings.replace(**groups), secret_api_key=world.sim.api_key, privacy_key=KEY)
    job = define_asset_job("silver_only", selection=AssetSelection.groups("silver"))
    resolved = Definitions.merge(defs, Definitions(jobs=[job])).resolve_job_def("silver_only")
    result = resolved.execute_in_process(
        partition_key=day.isoformat(), instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    return result


def test_truncate_and_strip_query_leave_no_full_address_and_no_url_query_in_any_table(world):
    day = world.days[0]
    assert world.run_day(day, privacy=TRUNCATE).success
    addresses = full_addresses(world)
    assert len(addresses) > 20
    stored = lake_strings(world.warehouse)
    assert {"app_requests", "events", "ip_info"} <= set(stored)  # quarantine and log_rejects may be empty
    leaks = {
        table: sorted({a for v in values for a in ADDRESS.findall(v) if a in addresses})[:3]
        for table, values in stored.items()
    }
    assert not {t: found for t, found in leaks.items() if found}
    urls = world.query("SELECT url FROM events WHERE url IS NOT NULL UNION ALL SELECT botd_url FROM events")
    assert urls and not [u for (u,) in urls if u and ("?" in u or "#" in u)]
    assert world.query("SELECT count(*) FROM app_requests WHERE context LIKE '%fp_request=%'") == [(0,)]
    truncated = world.query("SELECT ip FROM events WHERE ip LIKE '%.%' LIMIT 5")
    assert truncated and all(ip.endswith(".0") for (ip,) in truncated)
    modes = world.query("SELECT table_name, ip_privacy, url_privacy FROM privacy_modes WHERE day = ?", [day])
    assert sorted(modes) == [
        (t, "truncate", "strip_query") for t in ("app_requests", "events", "ip_info", "log_rejects", "quarantine")
    ]


def test_hashed_addresses_still_join_the_log_context_to_the_events_and_the_key_is_stored_nowhere(world):
    day = world.days[0]
    defs = build_definitions(
        world.settings.replace(privacy={"ip": "hash"}), secret_api_key=world.sim.api_key, privacy_key=KEY
    )
    result = defs.resolve_job_def("daily_warehouse").execute_in_process(
        partition_key=day.isoformat(), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    joined = world.query(
        "SELECT e.ip, json_extract_string(a.context, '$.ip') FROM app_requests a JOIN events e USING (request_id) "
        "WHERE json_extract_string(a.context, '$.ip') IS NOT NULL AND e.ip IS NOT NULL"
    )
    assert len(joined) > 10 and all(event_ip == log_ip for event_ip, log_ip in joined)
    sample = world.sim.population.facts(world.query("SELECT request_id FROM events LIMIT 1")[0][0]).ip
    assert world.query("SELECT count(*) FROM events WHERE ip = ?", [hash_ip(sample, KEY.encode())])[0][0] >= 1
    stored = [p for p in world.warehouse.rglob("*") if p.is_file()]
    assert stored and not [p for p in stored if KEY.encode() in p.read_bytes()]
    assert KEY not in str([e for e in result.all_events])  # not in the run's events, logs or metadata


def test_a_silver_only_rebuild_under_another_mode_refuses_and_the_whole_day_run_switches_the_day(world):
    day = world.days[0]
    assert world.run_day(day).success
    ips_before = world.query("SELECT request_id, ip FROM events ORDER BY request_id")

    refused = silver_only(world, day, privacy=TRUNCATE)

    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error)
    assert f"{day}: app_requests, log_rejects hold IP addresses and URLs as ip=full url=full" in message
    assert "would store ip=truncate url=strip_query" in message and f"--partition {day}" in message
    assert world.query("SELECT request_id, ip FROM events ORDER BY request_id") == ips_before

    assert world.run_day(day, privacy=TRUNCATE).success
    modes = world.query("SELECT DISTINCT ip_privacy, url_privacy FROM privacy_modes WHERE day = ?", [day])
    assert modes == [("truncate", "strip_query")]
    assert world.query("SELECT count(*) FROM events WHERE ip LIKE '%.%' AND ip NOT LIKE '%.0'") == [(0,)]


def test_the_refresh_does_not_rebuild_a_day_of_another_mode_and_says_how_to(world, update_event):
    first, second = world.days
    assert world.run_day(first).success
    rid = world.query("SELECT request_id FROM events WHERE visitor_id IS NOT NULL LIMIT 1")[0][0]
    update_event(world.sim, rid, {"suspect": True})

    result = world.run_day(second, privacy=TRUNCATE)

    assert result.success
    event = next(
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "event_refresh"
    )
    not_rebuilt = event.materialization.metadata["days_not_rebuilt"].value
    assert list(not_rebuilt) == [first.isoformat()] and "Re-run the whole day" in not_rebuilt[first.isoformat()]
    assert world.query("SELECT suspect FROM events WHERE request_id = ?", [rid]) == [(None,)]
    assert world.run_day(first, privacy=TRUNCATE).success  # the new version waited in bronze
    assert world.query("SELECT suspect FROM events WHERE request_id = ?", [rid]) == [(True,)]


def test_every_table_holding_addresses_or_urls_is_marked_in_the_registry():
    assert set(PRIVATE_TABLES) == {"events", "ip_info", "app_requests", "log_rejects", "quarantine"}
