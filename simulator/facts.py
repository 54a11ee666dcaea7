"""The version-neutral fact model of one identification event.

The simulator first decides what happened (who visited, from where, which signals fired, which products the plan
includes or failed to compute) and only then renders that as a v3 `products` body (`simulator.events`). A v4
renderer must produce the same facts in the flat v4 shape, so nothing here knows about camelCase, `data`/`error`
wrappers or ISO strings: times are epoch milliseconds, names are Python names, absent values are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.devices import Device, RawState
from simulator.geography import Network, Place

PRODUCTS: tuple[str, ...] = (
    "identification", "botd", "rootApps", "emulator", "ipInfo", "ipBlocklist", "tor", "vpn", "proxy", "incognito",
    "tampering", "clonedApp", "factoryReset", "jailbroken", "frida", "privacySettings", "virtualMachine",
    "rawDeviceAttributes", "highActivity", "locationSpoofing", "suspectScore", "remoteControl", "velocity",
    "developerTools", "mitmAttack", "rareDevice", "proximity", "labels",
)  # fmt: skip
"""Every product of the v3 `Products` schema, in schema order; used as the neutral product key too."""

VELOCITY_METRICS: tuple[str, ...] = (
    "distinctIp", "distinctLinkedId", "distinctCountry", "events", "ipEvents", "distinctIpByLinkedId",
    "distinctVisitorIdByLinkedId",
)  # fmt: skip
LINKED_ID_METRICS = frozenset({"distinctLinkedId", "distinctIpByLinkedId", "distinctVisitorIdByLinkedId"})
HIDE_24H_ABOVE = 20_000  # API.md 9.12: these metrics lose `24h` when events.24h exceeds this
HIDE_24H_METRICS = frozenset(
    {"distinctIp", "distinctLinkedId", "distinctCountry", "distinctIpByLinkedId", "distinctVisitorIdByLinkedId"}
)

ACCOUNT_SHARER, BOT_BURST = "account_sharer", "bot_burst"
"""Planted analytics patterns (`EventFacts.planted`), see `simulator.population`."""

NOVELTIES: dict[str, tuple[str, ...]] = {
    "identification.newSignal": ("products", "identification", "data", "newSignal"),
    "vpn.methods.newMethod": ("products", "vpn", "data", "methods", "newMethod"),
    "newProduct": ("products", "newProduct"),
    "envelope.requestMeta": ("requestMeta",),
}
"""Unknown fields the real API may add without notice, by name -> JSON key path in a v3 body."""


@dataclass(frozen=True, slots=True)
class IpFacts:
    """One IP address (v4 or v6) and what IP intelligence knows about it."""

    address: str
    place: Place
    network: Network
    accuracy_radius: int
    latitude: float
    longitude: float
    postal_code: str | None
    subdivisions: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class VpnFacts:
    result: bool
    confidence: str
    ml_score: float | None
    origin_timezone: str
    origin_country: str
    timezone_mismatch: bool
    public_vpn: bool
    auxiliary_mobile: bool
    os_mismatch: bool
    relay: bool
    ml_prediction: bool | None


@dataclass(frozen=True, slots=True)
class ProxyFacts:
    result: bool
    confidence: str
    ml_score: float | None
    proxy_type: str | None  # set when detected
    last_seen_ms: int | None  # hourly resolution, optional even when detected
    null_details: bool  # v3 sends `"details": null` instead of omitting it


@dataclass(frozen=True, slots=True)
class TamperingFacts:
    result: bool
    confidence: str  # low | medium | high; required in v3 since 2026-03, so always sent
    anomaly_score: float
    ml_score: float  # required in v3 since 2026-03, so always sent
    anti_detect_browser: bool


@dataclass(frozen=True, slots=True)
class LabelFacts:
    label: str | None
    prediction: bool | None
    ml_score: float | None


@dataclass(frozen=True, slots=True)
class ProximityFacts:
    id: str
    precision_radius: int
    confidence: float


Intervals = tuple[int, int, int | None]  # 5m, 1h, 24h (None: omitted)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What happened in one identification event, independent of the API version that reports it."""

    request_id: str
    timestamp_ms: int
    action: str  # the page's purpose: login | signup | checkout | password_reset
    user_id: str  # the application account behind the visitor (used by the demo logs)
    visitor_id: str
    visitor_found: bool
    first_seen_global_ms: int
    first_seen_subscription_ms: int
    last_seen_global_ms: int | None
    last_seen_subscription_ms: int | None
    confidence: float
    confidence_revision: str | None
    confidence_comment: str | None
    linked_id: str | None
    tag: dict[str, Any]
    url: str
    ip: str
    ip_v4: IpFacts
    ip_v6: IpFacts | None
    legacy_ip_location: bool  # the deprecated identification.ipLocation is still sent (old application)
    incognito: bool
    suspect: bool | None
    replayed: bool
    environment_id: str | None
    device: Device
    raw_attributes: tuple[tuple[str, RawState], ...]
    components: bool  # identification.components carries the raw attributes too
    bot: str  # notDetected | good | bad
    bot_type: str | None
    bot_meta: bool  # botd.meta repeats the tag
    bot_linked_id: bool  # botd.linkedId repeats the linked ID
    root_apps: bool
    emulator: bool
    cloned_app: bool
    jailbroken: bool
    frida: bool
    tor: bool
    privacy_settings: bool
    location_spoofing: bool
    remote_control: bool
    developer_tools: bool
    mitm_attack: bool
    virtual_machine: bool
    virtual_machine_ml_score: float | None
    high_activity: bool
    daily_requests: int | None
    ip_blocklist: bool
    email_spam: bool
    attack_source: bool
    vpn: VpnFacts
    proxy: ProxyFacts
    tampering: TamperingFacts
    factory_reset_ms: int  # 0: unknown (always for web)
    suspect_score: int
    velocity: dict[str, Intervals | None]  # None: the metric could not be computed (`{}` in v3)
    rare_device: bool | None
    rare_device_bucket: str | None
    proximity: ProximityFacts
    labels: tuple[LabelFacts, ...]
    absent_products: frozenset[str]  # not in the plan
    failed_products: frozenset[str]  # the signal failed server-side
    recent_schema: bool  # carries the optional `asn.type` (added to the v3 schema in 2025-12)
    novelty: str | None  # a key of NOVELTIES: an unknown field this event carries
    planted: str | None  # "account_sharer" | "bot_burst": part of a planted analytics pattern
