"""Smart Signal facts of one visit: VPN, proxy, tampering, velocity, raw attributes, proximity, labels.

Each builder takes the visit's private RNG and the visitor, so signals stay correlated with who is visiting and
how (a VPN exit explains a timezone mismatch; a bad bot explains tampering, high velocity and a datacenter proxy).
"""

from __future__ import annotations

import random

from simulator.devices import NOT_COLLECTED, RawError, RawState
from simulator.facts import (
    ACCOUNT_SHARER,
    BOT_BURST,
    HIDE_24H_ABOVE,
    HIDE_24H_METRICS,
    LINKED_ID_METRICS,
    VELOCITY_METRICS,
    Intervals,
    IpFacts,
    LabelFacts,
    ProximityFacts,
    ProxyFacts,
    TamperingFacts,
    VpnFacts,
)
from simulator.geography import Place
from simulator.ids import Keyed
from simulator.visitors import BAD_BOT, Visitor

HOUR_MS = 3_600_000
_RADII = (10, 25, 65, 175, 450, 1200, 3300, 8500, 22500)
_RAW_ERRORS = (("Error", "internal server error"), ("TimeoutError", "Timeout"), ("Error", "The operation is insecure."))


def vpn_facts(rng: random.Random, visitor: Visitor, exit_kind: str, ip_place: Place) -> VpnFacts:
    """A VPN exit is detected with a timezone mismatch; iCloud-style relays count as a low-confidence VPN."""
    home_tz = visitor.home.timezone
    on = exit_kind in ("vpn", "relay")
    tz_mismatch = exit_kind == "vpn" and ip_place.timezone != home_tz
    ml = rng.random() < 0.3
    origin_country = visitor.home.country_code if visitor.device.platform == "android" else "unknown"
    return VpnFacts(
        result=on,
        confidence=("high" if exit_kind == "vpn" else "low") if on else rng.choice(("high", "high", "medium")),
        ml_score=(round(rng.uniform(0.7, 0.99) if on else rng.uniform(0, 0.05), 3)) if ml else None,
        origin_timezone=home_tz,
        origin_country=origin_country,
        timezone_mismatch=tz_mismatch,
        public_vpn=exit_kind == "vpn",
        auxiliary_mobile=exit_kind == "vpn" and visitor.device.platform != "js" and rng.random() < 0.5,
        os_mismatch=exit_kind == "vpn" and rng.random() < 0.1,
        relay=exit_kind == "relay",
        ml_prediction=on if ml else None,
    )


def proxy_facts(rng: random.Random, visitor: Visitor, exit_kind: str, ts: int) -> ProxyFacts:
    """Residential proxies for proxy users, datacenter proxies for some bad bots; details only when detected."""
    detected = exit_kind == "proxy" or (
        exit_kind in ("bot", "burst") and visitor.role == BAD_BOT and rng.random() < 0.3
    )
    kind = None
    if detected:
        kind = "residential" if exit_kind == "proxy" else "data_center"
        kind = "unknown" if rng.random() < 0.05 else kind
    ml = rng.random() < 0.3
    return ProxyFacts(
        result=detected,
        confidence=rng.choice(("high", "medium", "low")) if detected else "high",
        ml_score=round(rng.uniform(0.6, 0.99) if detected else rng.uniform(0, 0.1), 3) if ml else None,
        proxy_type=kind,
        last_seen_ms=_hour(ts - rng.randrange(0, 72 * HOUR_MS)) if detected and rng.random() < 0.8 else None,
        null_details=not detected and rng.random() < 0.1,
    )


def _hour(ms: int) -> int:
    return ms // HOUR_MS * HOUR_MS


def tampering_facts(rng: random.Random, visitor: Visitor) -> TamperingFacts:
    """Anti-detect browsers and some headless bots tamper; iOS never reports tampering.

    `confidence` and `mlScore` are always set: the v3 schema requires both since 2026-03 and the API sends them.
    The confidence follows the schema's definition: `high` when the anti-detect heuristics and the ML model both
    fire (or nothing points to tampering), `medium` when the anomaly score fires alone.
    """
    platform = visitor.device.platform
    anti = visitor.anti_detect
    tampered = platform != "ios" and (anti or (visitor.role == BAD_BOT and rng.random() < 0.3))
    anomaly = rng.uniform(0.55, 0.95) if tampered else rng.uniform(0, 0.25)
    ml = rng.uniform(0.85, 0.99) if anti else rng.uniform(0, 0.3)
    return TamperingFacts(
        result=tampered,
        confidence="medium" if tampered and not anti else "high",
        anomaly_score=round(anomaly, 4),
        ml_score=round(ml, 3),
        anti_detect_browser=anti,
    )


def velocity_facts(
    rng: random.Random, visitor: Visitor, linked: bool, exit_kind: str, plant: str | None
) -> tuple[dict[str, Intervals | None], int]:
    """Counts over 5 min / 1 h / 24 h (monotonic) scaled by the visitor's activity; returns them and events.24h.

    The linked-ID metrics are not computed without a linkedId, any metric may fail (1 %), and busy visitors lose
    `24h` on the metrics API.md 9.12 lists.
    """
    rate = visitor.hourly_rate * (20 if plant == BOT_BURST else 1)
    ev5 = 1 + int(rng.expovariate(12 / rate))
    ev1h = ev5 + int(rng.expovariate(1 / rate))
    ev24 = ev1h + int(rng.expovariate(1 / (rate * (12 if visitor.role == BAD_BOT else 6))))
    rotating = visitor.role == BAD_BOT or exit_kind in ("vpn", "tor")
    ips = (min(ev5, rng.randint(1, 4)), min(ev1h, rng.randint(1, 12)), min(ev24, rng.randint(2, 40)))
    if not rotating:
        ips = (1, min(ev1h, 1 + int(exit_kind in ("roam", "travel"))), min(ev24, 1 + int(rng.expovariate(1.5))))
    countries = (1, min(ips[1], 2 if exit_kind in ("vpn", "travel") else 1), min(ips[2], rng.choice((1, 1, 2, 3))))
    ip_extra = int(rng.expovariate(0.3))
    shared = (1, rng.randint(1, 3), 12) if plant == ACCOUNT_SHARER else (1, 1, rng.choice((1, 1, 1, 2)))
    raw: dict[str, Intervals] = {
        "distinctIp": ips,
        "distinctLinkedId": (1, 1, rng.choice((1, 1, 2))),
        "distinctCountry": countries,
        "events": (ev5, ev1h, ev24),
        "ipEvents": (ev5 + ip_extra // 4, ev1h + ip_extra, ev24 + ip_extra * 8),
        "distinctIpByLinkedId": (1, min(2, ips[1]), max(1, min(3, ips[2]))),
        "distinctVisitorIdByLinkedId": shared,
    }
    out: dict[str, Intervals | None] = {}
    for metric in VELOCITY_METRICS:
        five, hour, day = raw[metric]
        hour, day = max(hour, five), max(day, hour, five)
        if (metric in LINKED_ID_METRICS and not linked) or rng.random() < 0.01:
            out[metric] = None
        else:
            out[metric] = (five, hour, None if metric in HIDE_24H_METRICS and ev24 > HIDE_24H_ABOVE else day)
    return out, ev24


def raw_attribute_states(
    rng: random.Random, attributes: tuple[tuple[str, RawState], ...]
) -> tuple[tuple[str, RawState], ...]:
    """The visitor's stable attributes, with the occasional per-visit collection failure or status code.

    Audio and canvas are the fragile ones in real payloads (the official all-errors example fails exactly those).
    """
    if rng.random() >= 0.03:
        return attributes
    r = rng.random()
    name = "audio" if r < 0.4 else "canvas" if r < 0.6 else rng.choice(attributes)[0]
    value = dict(attributes).get(name, NOT_COLLECTED)
    if value is NOT_COLLECTED:
        return attributes
    replacement: RawState = RawError(*rng.choice(_RAW_ERRORS))
    if name == "audio" and rng.random() < 0.5:
        replacement = rng.choice((-1.0, -2.0, -3.0))  # suspended / unsupported / timeout
    elif name == "dateTimeLocale":
        replacement = rng.choice(("-1", "-2", "-3"))
    return tuple((n, replacement if n == name else v) for n, v in attributes)


def proximity_facts(rng: random.Random, keyed: Keyed, ip: IpFacts) -> ProximityFacts:
    radius = rng.choice(_RADII[:6]) if ip.accuracy_radius < 100 else rng.choice(_RADII[4:])
    zone = f"{ip.place.city}:{round(ip.latitude, 1)}:{round(ip.longitude, 1)}:{radius}"
    return ProximityFacts(
        id=keyed.token(f"prox:{zone}", 11), precision_radius=radius, confidence=round(rng.uniform(0.5, 0.99), 2)
    )


def label_facts(rng: random.Random, role: str) -> tuple[LabelFacts, ...]:
    """Beta ML labels; every member is optional, so some items lack one."""
    r = rng.random()
    if r < 0.1:
        return ()
    fraud = round(rng.uniform(0.6, 0.99) if role == BAD_BOT else rng.uniform(0, 0.2), 2)
    items = [LabelFacts("fraud", fraud > 0.5, fraud)]
    if r < 0.5:
        ato = round(rng.uniform(0, 0.3), 2)
        items.append(LabelFacts("account_takeover", ato > 0.5, ato))
    if r > 0.95:
        items.append(LabelFacts("promo_abuse", None, round(rng.random(), 2)))
    return tuple(items)
