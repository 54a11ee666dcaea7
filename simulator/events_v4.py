"""Rendering `EventFacts` as a Server API v4 event body (one flat, snake_case object).

The same facts as `simulator.events.render_v3`, in the v4 shape of API.md 12/13: epoch milliseconds for every
time, `bot` spelled `not_detected`, `ip_info.v4.asn` a plain string, velocity without the `intervals` wrapper,
raw device attributes without the `{value}` wrapper, in v4's curated list and spelling. v4 has no per-signal
errors: a signal the plan lacks, that failed, or that does not apply to the device's platform is omitted (no
mobile signals on web events, unlike v3; `ONLY_ON` copies the schema's `x-platforms`, down to the members of
`vpn_methods` and `tampering_details` that are browser-only). The request-level fields
(URL, IP, user agent, browser details, SDK) belong to identification here, so an event whose identification
failed carries none of them, as in v3.

v4-only fields are derived from the facts without new random draws, so v3 bodies stay exactly as they were:
`source` is always `device`, the High Recall ID is the visitor's, `client_referrer` is `""` (direct navigation),
`simulator`/`active_call` are false where reported, and a good bot's `bot_info` follows from its `bot_type`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from simulator.devices import NOT_COLLECTED, RawError
from simulator.facts import VELOCITY_METRICS, EventFacts, IpFacts

WEB, ANDROID, IOS = frozenset({"js"}), frozenset({"android"}), frozenset({"ios"})
MOBILE = ANDROID | IOS

# (v4 field, v3 product, facts attribute) of the signals that are one value
BOOLEAN_SIGNALS: tuple[tuple[str, str, str], ...] = (
    ("root_apps", "rootApps", "root_apps"),
    ("emulator", "emulator", "emulator"),
    ("cloned_app", "clonedApp", "cloned_app"),
    ("jailbroken", "jailbroken", "jailbroken"),
    ("frida", "frida", "frida"),
    ("location_spoofing", "locationSpoofing", "location_spoofing"),
    ("mitm_attack", "mitmAttack", "mitm_attack"),
    ("incognito", "incognito", "incognito"),
    ("privacy_settings", "privacySettings", "privacy_settings"),
    ("developer_tools", "developerTools", "developer_tools"),
    ("high_activity_device", "highActivity", "high_activity"),
    ("suspect_score", "suspectScore", "suspect_score"),
)
# Event fields v4 sends only for some platforms (`x-platforms` in the v4 schema's Event.yaml, VpnMethods.yaml and
# TamperingDetails.yaml), as dotted paths; the rest go to all.
ONLY_ON: dict[str, frozenset[str]] = {
    "incremental_identification_status": WEB,
    "url": WEB,
    "client_referrer": WEB,
    "browser_details": WEB,
    "bot": WEB,
    "bot_type": WEB,
    "bot_info": WEB,
    "incognito": WEB,
    "privacy_settings": WEB,
    "virtual_machine": WEB,
    "virtual_machine_ml_score": WEB,
    "vpn_ml_score": WEB,
    "proxy_ml_score": WEB,
    "rare_device": WEB,
    "rare_device_percentile_bucket": WEB,
    "bundle_id": IOS,
    "jailbroken": IOS,
    "simulator": IOS,
    "package_name": ANDROID,
    "root_apps": ANDROID,
    "emulator": ANDROID,
    "cloned_app": ANDROID,
    "active_call": MOBILE,
    "factory_reset_timestamp": MOBILE,
    "frida": MOBILE,
    "location_spoofing": MOBILE,
    "mitm_attack": MOBILE,
    "vpn_origin_country": MOBILE,
    "vpn_methods.os_mismatch": WEB,
    "vpn_methods.ml_prediction": WEB,
    "tampering_details.anti_detect_browser": WEB,
}

# v3 raw attribute name -> v4 name, for the attributes v4 curates (API.md 12.3); the rest are v3 only.
RAW_NAMES: dict[str, str] = {
    "architecture": "architecture",
    "audio": "audio",
    "canvas": "canvas",
    "colorDepth": "color_depth",
    "cookiesEnabled": "cookies_enabled",
    "dateTimeLocale": "date_time_locale",
    "deviceMemory": "device_memory",
    "emoji": "emoji",
    "fontPreferences": "font_preferences",
    "fonts": "fonts",
    "hardwareConcurrency": "hardware_concurrency",
    "indexedDB": "indexed_db",
    "languages": "languages",
    "localStorage": "local_storage",
    "sessionStorage": "session_storage",
    "math": "math",
    "osCpu": "oscpu",
    "platform": "platform",
    "plugins": "plugins",
    "screenResolution": "screen_resolution",
    "timezone": "timezone",
    "touchSupport": "touch_support",
    "vendor": "vendor",
    "webGlBasics": "webgl_basics",
    "webGlExtensions": "webgl_extensions",
}
# Object-valued attributes whose keys v4 snake-cases (`plugins[].mimeTypes` famously stays camelCase).
SNAKE_KEYS = frozenset({"canvas", "touchSupport", "webGlBasics", "webGlExtensions"})
VELOCITY_INTERVALS = ("5_minutes", "1_hour", "24_hours")
BOT_INFO: dict[str, dict[str, str]] = {
    "googleBot": {"category": "search_engine_crawler", "provider": "Google", "name": "Googlebot"},
    "bingBot": {"category": "search_engine_crawler", "provider": "Microsoft", "name": "Bingbot"},
    "appleBot": {"category": "search_engine_crawler", "provider": "Apple", "name": "Applebot"},
}
NOVELTIES_V4: dict[str, tuple[str, ...]] = {
    "identification.newSignal": ("identification", "new_signal"),
    "vpn.methods.newMethod": ("vpn_methods", "new_method"),
    "newProduct": ("new_product",),
    "envelope.requestMeta": ("request_meta",),
}
"""The unknown fields of `facts.NOVELTIES`, where a v4 body carries them."""


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def render_v4(f: EventFacts) -> dict[str, Any]:
    """The v4 `GET /v4/events/{event_id}` body for `f` (a fresh dict the caller may mutate)."""
    body: dict[str, Any] = {"event_id": f.request_id, "timestamp": f.timestamp_ms, "source": "device"}
    body["incremental_identification_status"] = "completed"
    for product, render in _SIGNALS:
        if product not in f.absent_products and product not in f.failed_products:
            body.update(render(f))
    for field, product, attribute in BOOLEAN_SIGNALS:
        if _has(f, product):
            body[field] = getattr(f, attribute)
    _drop_inapplicable(body, f.device.platform)
    if f.novelty is not None:
        _add_novelty(body, f.novelty)
    return body


def _drop_inapplicable(body: dict[str, Any], platform: str) -> None:
    """Remove every field (`ONLY_ON` path) that v4 does not send for `platform`."""
    for path, platforms in ONLY_ON.items():
        if platform in platforms:
            continue
        *parents, name = path.split(".")
        target: Any = body
        for key in parents:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(name, None)


def _has(f: EventFacts, product: str) -> bool:
    return product not in f.absent_products and product not in f.failed_products


def _identification(f: EventFacts) -> dict[str, Any]:
    d = f.device
    confidence: dict[str, Any] = {"score": f.confidence}
    if f.confidence_revision is not None:
        confidence["version"] = f.confidence_revision.removeprefix("v")  # v3 `v1.1` is v4 `1.1`
    if f.confidence_comment is not None:
        confidence["comment"] = f.confidence_comment
    identification: dict[str, Any] = {
        "visitor_id": f.visitor_id,
        "confidence": confidence,
        "visitor_found": f.visitor_found,
        "first_seen_at": f.first_seen_subscription_ms,
    }
    if f.last_seen_subscription_ms is not None:  # v3 says null on a first visit; v4 leaves it out
        identification["last_seen_at"] = f.last_seen_subscription_ms
    out: dict[str, Any] = {}
    if f.linked_id is not None:
        out["linked_id"] = f.linked_id
    out["tags"] = copy.deepcopy(f.tag)
    # v3 reports an app's ID as its URL; v4 names it (and `ONLY_ON` keeps the one that applies)
    out.update(url=f.url, client_referrer="", package_name=f.url, bundle_id=f.url)
    out.update(ip_address=f.ip, user_agent=d.user_agent, device=d.device, os=d.os, os_version=d.os_version)
    out["browser_details"] = {
        "browser_name": d.browser_name,
        "browser_major_version": d.browser_major_version,
        "browser_full_version": d.browser_full_version,
        "os": d.os,
        "os_version": d.os_version,
        "device": d.device,
    }
    out["identification"] = identification
    out["supplementary_id_high_recall"] = {
        "visitor_id": f.visitor_id[:20] + "_hr",
        "visitor_found": f.last_seen_global_ms is not None,
        "confidence": {"score": 0, "version": "Not Supported"},
        "first_seen_at": f.first_seen_global_ms,
        "last_seen_at": f.last_seen_global_ms if f.last_seen_global_ms is not None else f.timestamp_ms,
    }
    sdk: dict[str, Any] = {"platform": d.platform, "version": d.sdk_version}
    if d.integrations is not None:
        sdk["integrations"] = [_integration(i) for i in d.integrations]
    out.update(sdk=sdk, replayed=f.replayed)
    if f.suspect is not None:
        out["suspect"] = f.suspect
    if f.environment_id is not None:
        out["environment_id"] = f.environment_id
    out.update(simulator=False, active_call=False)
    return out


def _integration(i: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": i.name, "version": i.version}
    if i.sub_name is not None:
        out["subintegration"] = {"name": i.sub_name, "version": i.sub_version}
    return out


def _botd(f: EventFacts) -> dict[str, Any]:
    out: dict[str, Any] = {"bot": "not_detected" if f.bot == "notDetected" else f.bot}
    if f.bot_type is not None:
        out["bot_type"] = f.bot_type
        info = BOT_INFO.get(f.bot_type) if f.bot == "good" else None
        if info is not None:
            out["bot_info"] = {**info, "identity": "verified", "confidence": "high"}
    return out


def _geolocation(ip: IpFacts) -> dict[str, Any]:
    place = ip.place
    geo: dict[str, Any] = {"accuracy_radius": ip.accuracy_radius, "latitude": ip.latitude, "longitude": ip.longitude}
    if ip.postal_code is not None:
        geo["postal_code"] = ip.postal_code
    geo.update(
        timezone=place.timezone,
        city_name=place.city,
        country_code=place.country_code,
        country_name=place.country_name,
        continent_code=place.continent_code,
        continent_name=place.continent_name,
    )
    if ip.subdivisions:
        geo["subdivisions"] = [{"iso_code": code, "name": name} for code, name in ip.subdivisions]
    return geo


def _ip_block(ip: IpFacts, recent: bool) -> dict[str, Any]:
    net = ip.network
    block: dict[str, Any] = {"address": ip.address, "geolocation": _geolocation(ip), "asn": net.asn}
    block.update(asn_name=net.name, asn_network=net.v4_cidr if ":" not in ip.address else net.v6_cidr)
    if recent:
        block["asn_type"] = net.type
    datacenter = net.type == "hosting" and bool(net.datacenter)
    block.update(datacenter_result=datacenter, datacenter_name=net.datacenter if datacenter else "")
    return block


def _ip_info(f: EventFacts) -> dict[str, Any]:
    info = {"v4": _ip_block(f.ip_v4, f.recent_schema)}
    if f.ip_v6 is not None:
        info["v6"] = _ip_block(f.ip_v6, f.recent_schema)
    return {"ip_info": info}


def _ip_blocklist(f: EventFacts) -> dict[str, Any]:
    # v4 reports v3's `ipBlocklist` and `tor` products as one object: it is there only when both are
    if not _has(f, "tor"):
        return {}
    return {"ip_blocklist": {"email_spam": f.email_spam, "attack_source": f.attack_source, "tor_node": f.tor}}


def _vpn(f: EventFacts) -> dict[str, Any]:
    v = f.vpn
    out: dict[str, Any] = {"vpn": v.result, "vpn_confidence": v.confidence}
    if v.ml_score is not None:
        out["vpn_ml_score"] = v.ml_score
    methods: dict[str, Any] = {
        "timezone_mismatch": v.timezone_mismatch,
        "public_vpn": v.public_vpn,
        "auxiliary_mobile": v.auxiliary_mobile,
        "os_mismatch": v.os_mismatch,
        "relay": v.relay,
    }
    if v.ml_prediction is not None:
        methods["ml_prediction"] = v.ml_prediction
    out.update(vpn_origin_timezone=v.origin_timezone, vpn_origin_country=v.origin_country, vpn_methods=methods)
    return out


def _proxy(f: EventFacts) -> dict[str, Any]:
    p = f.proxy
    out: dict[str, Any] = {"proxy": p.result, "proxy_confidence": p.confidence}
    if p.ml_score is not None:
        out["proxy_ml_score"] = p.ml_score
    if p.proxy_type is not None:
        details: dict[str, Any] = {"proxy_type": p.proxy_type}
        if p.last_seen_ms is not None:
            details["last_seen_at"] = p.last_seen_ms
        out["proxy_details"] = details
    return out


def _tampering(f: EventFacts) -> dict[str, Any]:
    t = f.tampering
    out: dict[str, Any] = {"tampering": t.result, "tampering_confidence": t.confidence}
    out["tampering_ml_score"] = t.ml_score
    out["tampering_details"] = {"anomaly_score": t.anomaly_score, "anti_detect_browser": t.anti_detect_browser}
    return out


def _virtual_machine(f: EventFacts) -> dict[str, Any]:
    out: dict[str, Any] = {"virtual_machine": f.virtual_machine}
    if f.virtual_machine_ml_score is not None:
        out["virtual_machine_ml_score"] = f.virtual_machine_ml_score
    return out


def _factory_reset(f: EventFacts) -> dict[str, Any]:
    return {"factory_reset_timestamp": f.factory_reset_ms}


def _raw_attributes(f: EventFacts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, state in f.raw_attributes:
        v4 = RAW_NAMES.get(name)
        if v4 is None or state is NOT_COLLECTED or isinstance(state, RawError):
            continue  # v4 curates the list and has no "not collected" or error states
        value = copy.deepcopy(state)
        if name in SNAKE_KEYS and isinstance(value, dict):
            value = {snake(k): v for k, v in value.items()}
        out[v4] = value
    return {"raw_device_attributes": out}


def _velocity(f: EventFacts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in VELOCITY_METRICS:
        intervals = f.velocity[metric]
        if intervals is not None:  # v3's `{}` metric is simply absent in v4
            out[snake(metric)] = {k: v for k, v in zip(VELOCITY_INTERVALS, intervals, strict=True) if v is not None}
    return {"velocity": out}


def _rare_device(f: EventFacts) -> dict[str, Any]:
    if f.rare_device is None:
        return {}
    out: dict[str, Any] = {"rare_device": f.rare_device}
    if f.rare_device_bucket is not None:
        out["rare_device_percentile_bucket"] = f.rare_device_bucket
    return out


def _labels(f: EventFacts) -> dict[str, Any]:
    labels = [{"label": x.label, "prediction": x.prediction, "ml_score": x.ml_score} for x in f.labels]
    return {"labels": [{k: v for k, v in label.items() if v is not None} for label in labels]}


# v3 product -> the v4 fields it becomes (boolean signals are in BOOLEAN_SIGNALS)
_SIGNALS: tuple[tuple[str, Callable[[EventFacts], dict[str, Any]]], ...] = (
    ("identification", _identification),
    ("botd", _botd),
    ("ipInfo", _ip_info),
    ("ipBlocklist", _ip_blocklist),
    ("vpn", _vpn),
    ("proxy", _proxy),
    ("tampering", _tampering),
    ("virtualMachine", _virtual_machine),
    ("factoryReset", _factory_reset),
    ("rawDeviceAttributes", _raw_attributes),
    ("velocity", _velocity),
    ("rareDevice", _rare_device),
    ("proximity", lambda f: {"proximity": _proximity(f)}),
    ("labels", _labels),
)


def _proximity(f: EventFacts) -> dict[str, Any]:
    p = f.proximity
    return {"id": p.id, "precision_radius": p.precision_radius, "confidence": p.confidence}


def _add_novelty(body: dict[str, Any], novelty: str) -> None:
    """Add the unknown field named `novelty` where a v4 body would carry it (if its parent is there)."""
    *parents, name = NOVELTIES_V4[novelty]
    target = body
    for key in parents:
        target = target.get(key)
        if not isinstance(target, dict):
            return
    target[name] = _NOVEL_VALUES[novelty]


_NOVEL_VALUES: dict[str, Any] = {
    "identification.newSignal": {"score": 0.42, "enabled": True},
    "vpn.methods.newMethod": False,
    "newProduct": {"result": False, "details": {"level": "low"}},
    "envelope.requestMeta": {"region": "global", "served": "simulator"},
}
