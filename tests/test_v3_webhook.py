"""v3 (legacy) webhook bodies flatten into the same columns as fetched v3 events (`transforms.dialects.v3_webhook`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.population import Population
from simulator.webhooks import day_bodies
from transforms.dialects import v3_webhook
from transforms.flatten import flatten

# Columns a v3 webhook cannot fill: botd's own copies of request fields are not in the webhook payload.
BOTD_COPIES = ("botd_meta", "botd_linked_id", "botd_url", "botd_ip", "botd_time", "botd_request_id")
_HIGH_RECALL = (
    "visitor_id",
    "visitor_found",
    "confidence_score",
    "confidence_version",
    "first_seen_at",
    "last_seen_at",
)
WEBHOOK_ONLY = ("client_referrer", *(f"high_recall_{c}" for c in _HIGH_RECALL))


@pytest.fixture(scope="module")
def simulated() -> tuple[list[str], dict[str, bytes], Population]:
    population = Population(seed=3, events_per_day=1500)
    ids = [rid for _, rid in population.day_events(date(2026, 11, 20))][:400]
    return ids, dict(day_bodies(population, ids, 3)), population


def test_the_official_webhook_examples_load_every_field_with_nothing_unknown_or_quarantined(shared_examples):
    for name in ("webhook.json", "webhook_latest.json"):
        result = flatten(["wh"], [(shared_examples / "v3" / name).read_bytes()], 3)
        assert not result.unknown_fields and result.quarantine.height == 0, name
        row = result.tables["events"].row(0, named=True)
        assert (
            row["visitor_id"] == "3HNey93AkBW6CRbxV6xP" and row["identification_request_id"] == "Px6VxbRC6WBkA39yeNH3"
        )
        assert (row["bot_result"], row["bot_type"]) == ("bad", "selenium")
        assert row["client_referrer"] == "https://google.com?search=banking+services"
        assert row["high_recall_visitor_id"] == "3HNey93AkBW6CRbxV6xP" and row["high_recall_confidence_score"] == 0.97
        assert row["high_recall_first_seen_at"] == datetime(2022, 3, 16, 11, 31, 1, 101000, tzinfo=UTC)
        assert row["incognito"] is False and row["identification_incognito"] is False
        assert row["proxy_type"] == "residential" and row["ip_v4_asn"] == "7922"
        tables = {t: df.height for t, df in result.tables.items()}
        assert tables["velocity"] == 18 and tables["ip_subdivisions"] == 2 and tables["raw_device_attributes"] == 7


def test_a_webhook_and_the_fetched_event_it_reports_give_the_same_rows(simulated):
    ids, hooks, population = simulated
    pushed = [rid for rid in ids if rid in hooks]
    assert len(pushed) > 350  # events whose identification failed have no webhook
    from_hooks = flatten(pushed, [hooks[rid] for rid in pushed], 3)
    fetched = flatten(pushed, [orjson.dumps(population.event_v3(rid)) for rid in pushed], 3)
    assert from_hooks.quarantine.height == 0
    for name, rows in from_hooks.tables.items():
        if name == "product_errors":  # a webhook leaves a failed signal out: NULL columns, no error row
            assert rows.height == 0 < fetched.tables[name].height
            continue
        keys = [c for c in rows.columns if c not in (*BOTD_COPIES, *WEBHOOK_ONLY, "incognito")]
        assert rows.select(keys).sort(keys).equals(fetched.tables[name].select(keys).sort(keys)), name
    events = from_hooks.tables["events"]
    assert events.select(WEBHOOK_ONLY[1:]).null_count().sum_horizontal().item() == 0
    assert set(events["client_referrer"].drop_nulls()) == {""}  # web events: direct navigation
    # incognito: the webhook's one flag fills both columns, also where the fetched `incognito` product failed
    assert events["incognito"].equals(events["identification_incognito"].alias("incognito"))


def test_a_key_the_conversion_does_not_know_is_counted_as_unknown_not_lost(simulated):
    ids, hooks, _ = simulated
    body = orjson.loads(hooks[next(rid for rid in ids if rid in hooks)]) | {"brandNewSignal": {"result": True}}
    result = flatten(["x"], [orjson.dumps(body)], 3)
    assert result.unknown_fields == {"brandNewSignal": 1} and result.tables["events"].height == 1


def test_a_fetched_v3_event_is_not_mistaken_for_a_webhook():
    assert not v3_webhook.is_webhook({"products": {}, "requestId": "1708102555327.NLOjmg"})
    assert not v3_webhook.is_webhook({"event_id": "1708102555327.NLOjmg"})
    assert v3_webhook.is_webhook({"requestId": "1708102555327.NLOjmg"})
    assert v3_webhook.identity({"requestId": "r", "timestamp": 5}) == ("r", 5)
    assert v3_webhook.identity({"requestId": "r", "timestamp": "5"}) == ("r", None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_anywhere_in_a_webhook_never_fails_the_batch(simulated, arbitrary_value_in, data):
    ids, hooks, _ = simulated
    body = orjson.loads(hooks[data.draw(st.sampled_from([rid for rid in ids if rid in hooks]))])
    broken = arbitrary_value_in(body, data)
    result = flatten(["x", "y"], [orjson.dumps(broken), orjson.dumps(body)], 3)
    assert result.events_in == 2
    assert result.tables["events"].filter(pl.col("request_id") == "y").height == 1
