"""How one visit of a visitor becomes an `EventFacts`: network path, identification, Smart Signals, plan.

Every draw comes from a private RNG seeded by (seed, request ID), so the same request ID always yields the same
facts, in any process. Signals are correlated the way fraud analysts expect (a VPN exit explains a timezone
mismatch, a headless browser explains tampering and a datacenter IP), so analytics built on the warehouse find
real patterns rather than noise.
"""

from __future__ import annotations

import random
from typing import Any

from simulator import signals
from simulator.facts import (
    ACCOUNT_SHARER,
    BOT_BURST,
    NOVELTIES,
    PRODUCTS,
    EventFacts,
    IpFacts,
)
from simulator.geography import (
    ACCURACY_RADII,
    CONSUMER_NETWORKS,
    HOSTING_NETWORKS,
    NETWORKS_BY_COUNTRY,
    PLACES,
    PLACES_BY_COUNTRY,
    Network,
    Place,
)
from simulator.ids import Keyed
from simulator.visitors import BAD_BOT, GOOD_BOT, Visitor

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SHARER_USER = "u-sharer"
_ACTIONS, _ACTION_WEIGHTS = ("login", "checkout", "password_reset", "signup"), (60, 30, 6, 4)
_PATHS = {
    "login": ("/login", "/account/login?next=%2Fcart", "/login?hope{this{works[!"),
    "signup": ("/signup", "/register?ref=newsletter"),
    "checkout": ("/checkout", "/cart/checkout?step=2", "/checkout/payment"),
    "password_reset": ("/account/password-reset", "/password/forgot"),
}
_APP_URLS = {"android": "com.example.shop", "ios": "com.example.shop.ios"}
_VPN_NETWORKS = tuple(n for n in HOSTING_NETWORKS if n.datacenter in ("M247", "Datacamp", "DediPath", "OVH", "Vultr"))
_TOR_NETWORKS = tuple(n for n in HOSTING_NETWORKS if n.datacenter in ("OVH", "Hetzner", "M247"))
_RELAY_NETWORK = next(n for n in CONSUMER_NETWORKS if n.type == "business")
_PLACES_BY_NETWORK_COUNTRY = {cc: places or PLACES for cc, places in PLACES_BY_COUNTRY.items()}
_COMMENTS = ("Confidence is lower because the browser is in incognito mode", "Device attributes changed recently")
_SIGNAL_WEIGHTS = {
    "bot": 10, "tor": 10, "vpn": 5, "proxy": 5, "tampering": 8, "incognito": 2, "privacy_settings": 2,
    "virtual_machine": 5, "developer_tools": 2, "emulator": 6, "root_apps": 6, "jailbroken": 6, "frida": 8,
    "cloned_app": 4, "location_spoofing": 6, "ip_blocklist": 5, "high_activity": 3, "mitm_attack": 8,
}  # fmt: skip
_ABSENT_RATE = {
    "identification": 0.0, "remoteControl": 0.75, "labels": 0.7, "rareDevice": 0.6, "proximity": 0.45,
    "suspectScore": 0.1, "rawDeviceAttributes": 0.1, "velocity": 0.05, "highActivity": 0.03,
}  # fmt: skip
DEGRADED_EVENT_RATE = 0.06
NOVELTY_RATE = 0.01


def derive_facts(
    keyed: Keyed,
    request_id: str,
    timestamp_ms: int,
    visitor: Visitor,
    plant: str | None = None,
    environments: tuple[str, ...] = (),
) -> EventFacts:
    """The facts of `visitor`'s visit identified as `request_id` at `timestamp_ms` (optionally planted)."""
    rng = keyed.rng(f"event:{request_id}")
    r = rng.random
    device, role = visitor.device, visitor.role
    web, new = device.platform == "js", visitor.key.startswith("new:")
    action = "signup" if new and r() < 0.7 else rng.choices(_ACTIONS, weights=_ACTION_WEIGHTS)[0]
    if plant:
        action = "login"
    exit_kind = _exit_kind(rng, visitor, plant)
    ip_v4, ip_v6 = _ip_facts(rng, visitor, exit_kind)
    linked_id, user_id = _linked_id(rng, visitor, action, plant)
    seen = _seen(rng, visitor, timestamp_ms, new)
    incognito = web and r() < visitor.incognito_rate
    bot = {BAD_BOT: "bad", GOOD_BOT: "good"}.get(role, "notDetected")
    android, ios, mobile = device.platform == "android", device.platform == "ios", device.platform != "js"
    tor = exit_kind == "tor"
    vm = web and r() < (0.3 if role == BAD_BOT else 0.012)
    velocity, events_24h = signals.velocity_facts(rng, visitor, linked_id is not None, exit_kind, plant)
    high_activity = events_24h > 150
    hosting = ip_v4.network.type == "hosting"
    email_spam = hosting and r() < (0.3 if role == BAD_BOT else 0.05)
    attack_source = tor or (role == BAD_BOT and r() < 0.4)
    flags: dict[str, bool] = {
        "bot": bot == "bad", "tor": tor, "incognito": incognito, "virtual_machine": vm,
        "privacy_settings": visitor.privacy_browser or tor,
        "developer_tools": r() < (0.08 if android else 0.0 if ios else 0.02),
        "emulator": android and r() < 0.02, "root_apps": android and r() < 0.03, "jailbroken": ios and r() < 0.01,
        "frida": mobile and r() < 0.005, "cloned_app": android and r() < 0.01,
        "location_spoofing": mobile and r() < 0.01, "mitm_attack": mobile and r() < 0.005,
        "ip_blocklist": email_spam or attack_source, "high_activity": high_activity,
    }  # fmt: skip
    vpn = signals.vpn_facts(rng, visitor, exit_kind, ip_v4.place)
    proxy = signals.proxy_facts(rng, visitor, exit_kind, timestamp_ms)
    recent = r() < 0.75  # the application's payloads carry `asn.type` (optional, added to the v3 schema in 2025-12)
    tampering = signals.tampering_facts(rng, visitor)
    flags.update(vpn=vpn.result, proxy=proxy.result, tampering=tampering.result)
    absent, failed = _plan(rng, mobile)
    if plant:  # a planted pattern must stay visible: keep who the visitor is and what botd saw
        absent, failed = absent - {"botd"} if web else absent, failed - {"identification", "botd"}
    novelty = _novelty(rng, absent | failed)
    confidence = round(rng.uniform(0.5, 0.9) if role == BAD_BOT else rng.uniform(0.9 if incognito else 0.95, 1), 2)
    return EventFacts(
        request_id=request_id,
        timestamp_ms=timestamp_ms,
        action=action,
        user_id=user_id,
        visitor_id=visitor.visitor_id,
        **seen,
        confidence=confidence,
        confidence_revision="v1.1" if r() < 0.1 else None,
        confidence_comment=rng.choice(_COMMENTS) if r() < 0.01 else None,
        linked_id=linked_id,
        tag=_tag(rng, action, visitor),
        url=_APP_URLS[device.platform] if mobile else "https://shop.example.com" + rng.choice(_PATHS[action]),
        ip=ip_v6.address if ip_v6 is not None and r() < 0.4 else ip_v4.address,
        ip_v4=ip_v4,
        ip_v6=ip_v6,
        legacy_ip_location=r() < 0.15,
        incognito=incognito,
        suspect=(r() < 0.5) if r() < 0.02 else None,
        replayed=r() < 0.002,
        environment_id=rng.choice(environments) if environments and r() < 0.15 else None,
        device=device,
        raw_attributes=signals.raw_attribute_states(rng, device.raw_attributes),
        components=r() < 0.005,
        bot=bot,
        bot_type=visitor.bot_type if bot != "notDetected" and r() < 0.9 else None,
        bot_meta=r() < 0.25,
        bot_linked_id=r() < 0.2,
        root_apps=flags["root_apps"],
        emulator=flags["emulator"],
        cloned_app=flags["cloned_app"],
        jailbroken=flags["jailbroken"],
        frida=flags["frida"],
        tor=tor,
        privacy_settings=flags["privacy_settings"],
        location_spoofing=flags["location_spoofing"],
        remote_control=web and r() < 0.003,
        developer_tools=flags["developer_tools"],
        mitm_attack=flags["mitm_attack"],
        virtual_machine=vm,
        virtual_machine_ml_score=round(rng.uniform(0.6, 0.99) if vm else rng.uniform(0, 0.2), 3) if r() < 0.4 else None,
        high_activity=high_activity,
        daily_requests=max(1, int(events_24h * rng.uniform(0.7, 1.3))) if high_activity and r() < 0.8 else None,
        ip_blocklist=flags["ip_blocklist"],
        email_spam=email_spam,
        attack_source=attack_source,
        vpn=vpn,
        proxy=proxy,
        tampering=tampering,
        factory_reset_ms=0
        if not mobile or r() < 0.1
        else _whole_seconds(timestamp_ms - rng.randrange(30 * DAY_MS, 700 * DAY_MS)),
        suspect_score=sum(_SIGNAL_WEIGHTS[name] for name, on in flags.items() if on),
        velocity=velocity,
        rare_device=visitor.rare_bucket in ("p99.9+", "not_seen") if web else None,
        rare_device_bucket=visitor.rare_bucket if web and r() < 0.9 else None,
        proximity=signals.proximity_facts(rng, keyed, ip_v4),
        labels=signals.label_facts(rng, role),
        absent_products=absent,
        failed_products=failed,
        recent_schema=recent,
        novelty=novelty,
        planted=plant,
    )


def _whole_seconds(ms: int) -> int:
    """Factory resets are known to the second (v3 sends seconds), so v3 and v4 renders agree on the instant."""
    return ms // 1000 * 1000


def _exit_kind(rng: random.Random, visitor: Visitor, plant: str | None) -> str:
    """Where the request leaves for the internet: home, roam (other IP), travel, vpn, relay, tor, proxy, bot."""
    r = rng.random()
    if plant == BOT_BURST:
        return "burst"
    if visitor.role != "human":
        return "tor" if visitor.role == BAD_BOT and r < 0.02 else "bot"
    if visitor.vpn_user and r < 0.6:
        return "vpn"
    if visitor.proxy_user and r < 0.7:
        return "proxy"
    if r < 0.002:
        return "tor"
    if visitor.device.is_safari and r < 0.08:
        return "relay"
    if r < 0.12:
        return "roam"
    return "travel" if r < 0.14 else "home"


def _ip_facts(rng: random.Random, visitor: Visitor, exit_kind: str) -> tuple[IpFacts, IpFacts | None]:
    network, place, host = visitor.network, visitor.home, visitor.host
    if exit_kind in ("vpn", "tor"):
        network = rng.choice(_VPN_NETWORKS if exit_kind == "vpn" else _TOR_NETWORKS)
        place, host = rng.choice(_PLACES_BY_NETWORK_COUNTRY[network.country_code]), rng.getrandbits(20)
    elif exit_kind == "relay":
        network = _RELAY_NETWORK
    elif exit_kind == "travel":
        place = rng.choice(PLACES)
        network = rng.choice(NETWORKS_BY_COUNTRY[place.country_code])
        host = rng.getrandbits(24)
    elif exit_kind in ("roam", "bot"):
        host = rng.getrandbits(24) if exit_kind == "roam" or visitor.role == BAD_BOT else host % 4096
    elif exit_kind == "burst":
        host = visitor.host - visitor.host % 256 + rng.randrange(2, 250)  # one /24 for the whole burst
    if network.type == "hosting" and exit_kind != "relay" and place.country_code != network.country_code:
        place = rng.choice(_PLACES_BY_NETWORK_COUNTRY[network.country_code])
    v4 = _ip(rng, network.v4_address(host), place, network)
    v6 = _ip(rng, network.v6_address(host), place, network) if rng.random() < 0.25 else None
    return v4, v6


def _ip(rng: random.Random, address: str, place: Place, network: Network) -> IpFacts:
    radius = 1000 if network.type == "hosting" else rng.choice(ACCURACY_RADII)
    postal = rng.choice(place.postal_codes) if place.postal_codes and rng.random() < 0.8 else None
    subdivisions = place.subdivisions if rng.random() < 0.9 else place.subdivisions[:1]
    return IpFacts(
        address=address,
        place=place,
        network=network,
        accuracy_radius=radius,
        latitude=round(place.latitude + rng.uniform(-0.05, 0.05), 4),
        longitude=round(place.longitude + rng.uniform(-0.05, 0.05), 4),
        postal_code=postal,
        subdivisions=subdivisions,
    )


def _linked_id(rng: random.Random, visitor: Visitor, action: str, plant: str | None) -> tuple[str | None, str]:
    """The application sets linkedId to the account it is acting for; returns (linkedId, log user id)."""
    if plant == ACCOUNT_SHARER:
        return SHARER_USER, SHARER_USER
    if plant == BOT_BURST or visitor.role == BAD_BOT:
        victim = f"u{rng.randrange(1, 4001)}"  # credential stuffing: the account being tried
        return (victim if rng.random() < 0.7 else None), victim
    if visitor.role == GOOD_BOT:
        return None, visitor.user_id
    known = rng.random() < (0.3 if action == "signup" else 0.6)
    return (visitor.user_id if known else None), visitor.user_id


def _seen(rng: random.Random, visitor: Visitor, ts: int, new: bool) -> dict[str, Any]:
    """visitorFound and first/last-seen times: a new visitor's lastSeenAt is null."""
    if new:
        if rng.random() < 0.15:  # new to this subscription, known globally
            first_global = ts - rng.randrange(DAY_MS, 400 * DAY_MS)
            last_global = rng.randrange(first_global, ts - HOUR_MS)
            return _seen_dict(True, first_global, ts, last_global, None)
        return _seen_dict(False, ts, ts, None, None)
    first = ts - (ts - visitor.first_seen_phase_ms) % (180 * DAY_MS)
    first_global = first if rng.random() < 0.8 else first - rng.randrange(DAY_MS, 200 * DAY_MS)
    last = max(first, ts - 1000 - int(rng.expovariate(1 / (3 * DAY_MS))))
    return _seen_dict(True, first_global, first, last, last)


def _seen_dict(found: bool, fg: int, fs: int, lg: int | None, ls: int | None) -> dict[str, Any]:
    return {
        "visitor_found": found,
        "first_seen_global_ms": fg,
        "first_seen_subscription_ms": fs,
        "last_seen_global_ms": lg,
        "last_seen_subscription_ms": ls,
    }


def _tag(rng: random.Random, action: str, visitor: Visitor) -> dict[str, Any]:
    """Customer tags come in every shape: empty, flat, nested, with nulls, a wrapped scalar."""
    r = rng.random()
    if r < 0.35 or visitor.role == GOOD_BOT:
        return {}
    if r < 0.75:
        return {"requestType": action, "yourCustomId": rng.randrange(1000, 99999)}
    if r < 0.85:
        return {"page": {"name": action, "step": rng.randint(1, 3)}, "experiment": None, "abVariant": rng.choice("AB")}
    if r < 0.93:
        cart = {"items": rng.randint(1, 6), "value": round(rng.uniform(5, 400), 2), "currency": "EUR"}
        return {"requestType": action, "cart": cart, "coupon": None, "tags": ["web", "v2"]}
    return {"tag": rng.choice((action, 42, True))}


def _plan(rng: random.Random, mobile: bool) -> tuple[frozenset[str], frozenset[str]]:
    """Products absent (not in the plan; botd is web-only) and products that failed server-side.

    Failures cluster like real incidents: a few events are degraded and lose about half their products
    (identification less often), which makes about 3 % of all products an error.
    """
    degraded = rng.random() < DEGRADED_EVENT_RATE
    absent, failed = set(), set()
    for product in PRODUCTS:
        if (product == "botd" and mobile) or rng.random() < _ABSENT_RATE.get(product, 0.02):
            absent.add(product)
        elif degraded and rng.random() < (0.1 if product == "identification" else 0.5):
            failed.add(product)
    return frozenset(absent), frozenset(failed)


def _novelty(rng: random.Random, unavailable: frozenset[str]) -> str | None:
    if rng.random() >= NOVELTY_RATE:
        return None
    name = rng.choice(tuple(NOVELTIES))
    product = NOVELTIES[name][1] if len(NOVELTIES[name]) > 2 else None
    return "newProduct" if product in unavailable else name
