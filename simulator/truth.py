"""The ground truth of a logged day: every headline metric, computed from what the simulator decided.

The warehouse defines each metric once, in SQL (`sql/views/daily_metrics.sql`, `device_accounts.sql`,
`account_devices.sql`, `event_risk.sql`, `suspicious_requests.sql`). This module computes the same figures
without any of that SQL and without the warehouse: from the log lines the simulator wrote
(`simulator.applog.logged_requests`: which request ID, which user, which action) and from each event's facts
(`Population.facts`: which device, which bot, which signals, which products the plan left out or failed). A test
and `benchmarks/metric_table.py` hold the view, the feeds, the dashboard and the demo's query to these numbers.

Conventions are the documented ones: a day is the UTC day of the log line; rates are shares of the day's fetched
events whose product ran (a product absent from the plan or failed is unknown, not `false`); `suspicious` is the
rule list of `suspicious_requests`, restated here from the facts one rule a line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from simulator.applog import Logged
from simulator.facts import EventFacts
from simulator.population import Population, utc_day

RATE_PRODUCTS: dict[str, str] = {
    "bot_rate": "botd",
    "vpn_rate": "vpn",
    "proxy_rate": "proxy",
    "tor_rate": "tor",
    "incognito_rate": "incognito",
    "tampering_rate": "tampering",
}
"""Each risk rate and the v3 product whose result it averages (its denominator: events where that product ran)."""


def ran(f: EventFacts, product: str) -> bool:
    """The product is in the event's plan and did not fail: its column holds a value, else NULL."""
    return product not in f.absent_products and product not in f.failed_products


def reported(f: EventFacts, rate: str, webhook: bool) -> bool:
    """The event's column for `rate` holds a value: its product ran (a v3 webhook folds incognito into
    identification, so there it is known whenever identification ran)."""
    if webhook and rate == "incognito_rate":
        return ran(f, "identification")
    return ran(f, RATE_PRODUCTS[rate])


def flagged(f: EventFacts, rate: str) -> bool:
    """The event's value for one of `RATE_PRODUCTS` (only meaningful when `ran`)."""
    values = {
        "bot_rate": f.bot == "bad",
        "vpn_rate": f.vpn.result,
        "proxy_rate": f.proxy.result,
        "tor_rate": f.tor,
        "incognito_rate": f.incognito,
        "tampering_rate": f.tampering.result,
    }
    return values[rate]


def rules_fired(f: EventFacts) -> list[str]:
    """The rules of `sql/views/suspicious_requests.sql` this event fires, restated from its facts."""
    datacenter = f.ip_v4.network.type == "hosting" and bool(f.ip_v4.network.datacenter)
    rules = {
        "bot_detected": ran(f, "botd") and f.bot == "bad",
        "tampering": ran(f, "tampering") and f.tampering.result,
        "anti_detect_browser": ran(f, "tampering") and f.tampering.anti_detect_browser,
        "vpn_timezone_mismatch": ran(f, "vpn") and f.vpn.result and f.vpn.timezone_mismatch,
        "tor": ran(f, "tor") and f.tor,
        "proxy_high_confidence": ran(f, "proxy") and f.proxy.result and f.proxy.confidence == "high",
        "datacenter_ip": ran(f, "ipInfo") and datacenter,
        "ip_blocklist": ran(f, "ipBlocklist") and f.ip_blocklist,
        "replayed": ran(f, "identification") and f.replayed,
        "virtual_machine": ran(f, "virtualMachine") and f.virtual_machine,
        "emulator": ran(f, "emulator") and f.emulator,
        "frida_instrumentation": ran(f, "frida") and f.frida,
        "mitm_attack": ran(f, "mitmAttack") and f.mitm_attack,
        "location_spoofing": ran(f, "locationSpoofing") and f.location_spoofing,
        "high_velocity": ran(f, "velocity") and _high_velocity(f),
    }
    return [name for name, fires in rules.items() if fires]


def _high_velocity(f: EventFacts) -> bool:
    """5+ IPs of the visitor in 1 h, 50+ of its events in 5 min, or 100+ events from the IP in 5 min."""
    ips, events, ip_events = (f.velocity.get(m) for m in ("distinctIp", "events", "ipEvents"))
    return (
        (ips is not None and ips[1] >= 5)
        or (events is not None and events[0] >= 50)
        or (ip_events is not None and ip_events[0] >= 100)
    )


@dataclass
class Usage:
    """One device's accounts or one account's devices on a day (a row of `device_accounts` / `account_devices`)."""

    requests: int = 0
    others: set[str] = field(default_factory=set)  # accounts of a device, devices of an account
    ips: set[str] = field(default_factory=set)


@dataclass
class DayTruth:
    """The day's metrics as `daily_metrics` names them, plus accounts per device and devices per account."""

    day: date
    metrics: dict[str, float | int | None]
    accounts_per_device: dict[str, Usage]
    devices_per_account: dict[str, Usage]


def day_truth(population: Population, logged: Iterable[Logged], day: date, pushed: Iterable[str] = ()) -> DayTruth:
    """The ground truth of `day` for the log lines `logged` (all days; the lines of `day` are picked here).

    `pushed`: the day's events delivered as v3 webhooks before the run (`simulator.webhooks`). They count among
    the day's events (so in its visitors and risk rates) whether logged or not, and a webhook reports incognito
    once, from identification, so their incognito flag is known whenever identification ran.
    """
    lines = [line for line in logged if utc_day(line.ts_ms) == day]
    ids = {line.request_id for line in lines}
    facts = {rid: population.facts(rid) for rid in ids if population.exists(rid)}
    fetched_ok = len(facts)
    webhooks = set(pushed)
    facts |= {rid: population.facts(rid) for rid in webhooks if rid not in facts}
    metrics: dict[str, float | int | None] = {
        "requests": len(lines),
        "request_ids": len(ids),
        "events": len(facts),
        "unique_visitors": len({f.visitor_id for f in facts.values() if ran(f, "identification")}),
        "unique_accounts": len({line.user_id for line in lines if line.user_id is not None}),
        "logins": sum(line.action == "login" for line in lines),
        "failed_logins": sum(line.action == "login" and line.outcome == "failure" for line in lines),
        "fetched_ok": fetched_ok,
        "not_found": len(ids) - fetched_ok,
        "failed": 0,  # no fault is configured: every known ID is fetched, every other one answers 404
    }
    for name in ("fetched_ok", "not_found", "failed"):
        metrics[name.replace("fetched_", "") + "_rate"] = metrics[name] / len(ids) if ids else None
    for rate in RATE_PRODUCTS:
        known = [flagged(f, rate) for rid, f in facts.items() if reported(f, rate, rid in webhooks)]
        metrics[rate] = sum(known) / len(known) if known else None
    metrics["suspicious_rate"] = sum(bool(rules_fired(f)) for f in facts.values()) / len(facts) if facts else None
    devices, accounts = _usage(lines, facts)
    return DayTruth(day, metrics, devices, accounts)


def _usage(lines: list[Logged], facts: dict[str, EventFacts]) -> tuple[dict[str, Usage], dict[str, Usage]]:
    """Per device (visitor ID) its accounts, per account its devices, counting every log line."""
    devices: dict[str, Usage] = defaultdict(Usage)
    accounts: dict[str, Usage] = defaultdict(Usage)
    for line in lines:
        f = facts.get(line.request_id)
        identified = f is not None and ran(f, "identification")
        if identified:
            device = devices[f.visitor_id]
            device.requests += 1
            device.ips.add(f.ip)
            if line.user_id is not None:
                device.others.add(line.user_id)
        if line.user_id is not None:
            account = accounts[line.user_id]
            account.requests += 1
            if identified:
                account.others.add(f.visitor_id)
                account.ips.add(f.ip)
    return dict(devices), dict(accounts)
