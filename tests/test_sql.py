"""The analyst views in sql/views, run on a real warehouse built from known events."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import orjson
import polars as pl
import pytest

from pipelines.settings import WarehouseSettings
from pipelines.sql import view_files
from pipelines.tables import WAREHOUSE_TABLES, open_warehouse
from transforms.flatten import flatten

DAY = date(2026, 11, 22)


def event(event_v3: dict, **changes) -> dict:
    e = copy.deepcopy(event_v3)
    for path, value in changes.items():
        node = e["products"]
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return e


@pytest.fixture
def warehouse(tmp_path, event_v3):
    clean = event(event_v3, botd__data={"bot": {"result": "notDetected"}}, vpn__data={"result": False, "methods": {}})
    clean["products"]["velocity"] = {"data": {"distinctIp": {"intervals": {"5m": 1, "1h": 1, "24h": 1}}}}
    bot = event(event_v3)  # bot bad, VPN with timezone mismatch
    result = flatten(["clean", "bot"], [orjson.dumps(clean), orjson.dumps(bot)])
    store = open_warehouse(WarehouseSettings(directory=str(tmp_path / "warehouse")))
    for name, df in result.tables.items():
        store.stage(name, DAY, df)
    at = datetime(2026, 11, 22, 10, tzinfo=UTC)
    fetches = pl.DataFrame(
        [
            ("clean", "failed", at, 3),
            ("clean", "ok", at, 1),
            ("bot", "ok", at, 1),
            ("gone", "not_found", at, 1),
        ],
        schema=["request_id", "outcome", "fetched_at", "attempts"],
        orient="row",
    )
    store.stage("fetches", DAY, fetches.cast({"attempts": pl.Int32}))
    requests = pl.DataFrame(
        {"request_id": ["clean", "bot", "gone"], "app_user_id": ["u1", "u2", "u3"], "action": ["login"] * 3},
    ).with_columns(
        [
            pl.lit(None, dtype=dt).alias(c)
            for c, dt in WAREHOUSE_TABLES["app_requests"].schema.items()
            if c not in {"request_id", "app_user_id", "action"}
        ]
    )
    store.stage("app_requests", DAY, requests)
    store.publish_day(DAY)
    with store.reader() as con:
        yield con


def rows(con, sql: str):
    return con.execute(sql).fetchall()


def test_views_load_in_dependency_order():
    names = [p.stem for p in view_files()]
    assert names.index("velocity_wide") < names.index("suspicious_requests")
    assert names.index("fetches_latest") < names.index("app_requests_enriched")


def test_fetches_latest_keeps_the_final_outcome_per_request(warehouse):
    assert rows(warehouse, "SELECT request_id, outcome FROM fetches_latest ORDER BY request_id") == [
        ("bot", "ok"),
        ("clean", "ok"),
        ("gone", "not_found"),
    ]


def test_velocity_wide_pivots_metrics_and_keeps_missing_intervals_null(warehouse):
    got = rows(
        warehouse,
        "SELECT request_id, distinct_ip_5m, distinct_ip_24h, events_24h FROM velocity_wide ORDER BY request_id",
    )
    assert got == [("bot", 1, None, 25000), ("clean", 1, 1, None)]


def test_suspicious_requests_names_the_rules_that_fired_and_leaves_clean_traffic_out(warehouse):
    got = rows(warehouse, "SELECT request_id, rules_fired FROM suspicious_requests")
    assert len(got) == 1 and got[0][0] == "bot"
    assert {"bot_detected", "vpn_timezone_mismatch"} <= set(got[0][1])


def test_app_requests_enriched_joins_every_log_occurrence_to_its_event(warehouse):
    got = rows(
        warehouse,
        "SELECT request_id, app_user_id, fetch_outcome, visitor_id IS NOT NULL, bot_result "
        "FROM app_requests_enriched ORDER BY request_id",
    )
    assert got == [
        ("bot", "u2", "ok", True, "bad"),
        ("clean", "u1", "ok", True, "notDetected"),
        ("gone", "u3", "not_found", False, None),
    ]
