"""Rendering `EventFacts` as a Server API v3 event body (`{"products": {...}}`).

The shape follows the v3 schema (`components/schemas/Products`) and the quirks documented in API.md: camelCase
names, `data`/`error` wrappers per product, `asn.asn` as a digit string, ISO strings in Go's `.999` style (no
trailing zeros, no fraction at all on whole seconds), `null` last-seen times for a first visit, `{}` velocity
metrics, raw attributes in three states, and the occasional unknown field (`facts.NOVELTIES`). One table maps
each product to its data renderer, so adding a product (or a v4 renderer beside this one) is one line per product.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator.devices import NOT_COLLECTED, RawError, RawState
from simulator.facts import PRODUCTS, VELOCITY_METRICS, EventFacts, IpFacts

FAILED = {"code": "Failed", "message": "internal server error"}


def iso_ms(ms: int) -> str:
    """ISO 8601 UTC with milliseconds in Go's `.999` layout: `…:05.1Z`, `…:05.101Z`, `…:05Z`."""
    seconds, milli = divmod(ms, 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{base}.{milli:03d}".rstrip("0") + "Z" if milli else base + "Z"


def iso_s(ms: int) -> str:
    """ISO 8601 UTC at second precision, as v3 renders `identification.time` and `factoryReset.time`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def render_v3(f: EventFacts) -> dict[str, Any]:
    """The v3 `GET /events/{request_id}` body for `f` (a fresh dict the caller may mutate)."""
    products: dict[str, Any] = {}
    for name in PRODUCTS:
        if name in f.absent_products:
            continue
        if name in f.failed_products:
            products[name] = {"error": dict(FAILED)}
        else:
            products[name] = {"data": _DATA[name](f)}
    body: dict[str, Any] = {"products": products}
    if f.novelty is not None:
        _add_novelty(body, f.novelty)
    return body


def _identification(f: EventFacts) -> dict[str, Any]:
    d = f.device
    data: dict[str, Any] = {"visitorId": f.visitor_id, "requestId": f.request_id, "incognito": f.incognito}
    if f.linked_id is not None:
        data["linkedId"] = f.linked_id
    if f.suspect is not None:
        data["suspect"] = f.suspect
    data.update(tag=f.tag, time=iso_s(f.timestamp_ms), timestamp=f.timestamp_ms, url=f.url, ip=f.ip)
    if f.legacy_ip_location:
        data["ipLocation"] = _geolocation(f.ip_v4)
    data["browserDetails"] = {
        "browserName": d.browser_name,
        "browserMajorVersion": d.browser_major_version,
        "browserFullVersion": d.browser_full_version,
        "os": d.os,
        "osVersion": d.os_version,
        "device": d.device,
        "userAgent": d.user_agent,
    }
    confidence: dict[str, Any] = {"score": f.confidence}
    if f.confidence_revision is not None:
        confidence["revision"] = f.confidence_revision
    if f.confidence_comment is not None:
        confidence["comment"] = f.confidence_comment
    data.update(confidence=confidence, visitorFound=f.visitor_found)
    data["firstSeenAt"] = {
        "global": iso_ms(f.first_seen_global_ms),
        "subscription": iso_ms(f.first_seen_subscription_ms),
    }
    data["lastSeenAt"] = {
        "global": _iso_or_none(f.last_seen_global_ms),
        "subscription": _iso_or_none(f.last_seen_subscription_ms),
    }
    if f.components:
        data["components"] = _raw_attributes(f)
    sdk: dict[str, Any] = {"platform": d.platform, "version": d.sdk_version}
    if d.integrations is not None:
        sdk["integrations"] = [_integration(i) for i in d.integrations]
    data.update(sdk=sdk, replayed=f.replayed)
    if f.environment_id is not None:
        data["environmentId"] = f.environment_id
    return data


def _integration(i: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": i.name, "version": i.version}
    if i.sub_name is not None:
        out["subintegration"] = {"name": i.sub_name, "version": i.sub_version}
    return out


def _iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def _botd(f: EventFacts) -> dict[str, Any]:
    bot: dict[str, Any] = {"result": f.bot}
    if f.bot_type is not None:
        bot["type"] = f.bot_type
    data: dict[str, Any] = {"bot": bot}
    if f.bot_meta:
        data["meta"] = dict(f.tag)
    if f.bot_linked_id and f.linked_id is not None:
        data["linkedId"] = f.linked_id
    data.update(
        url=f.url,
        ip=f.ip,
        time=iso_ms(f.timestamp_ms),
        userAgent=f.device.user_agent,
        requestId=f.request_id,
    )
    return data


def _geolocation(ip: IpFacts) -> dict[str, Any]:
    place = ip.place
    geo: dict[str, Any] = {"accuracyRadius": ip.accuracy_radius, "latitude": ip.latitude, "longitude": ip.longitude}
    if ip.postal_code is not None:
        geo["postalCode"] = ip.postal_code
    geo.update(
        timezone=place.timezone,
        city={"name": place.city},
        country={"code": place.country_code, "name": place.country_name},
        continent={"code": place.continent_code, "name": place.continent_name},
    )
    if ip.subdivisions:
        geo["subdivisions"] = [{"isoCode": code, "name": name} for code, name in ip.subdivisions]
    return geo


def _ip_block(ip: IpFacts, recent: bool) -> dict[str, Any]:
    net = ip.network
    asn = {"asn": net.asn, "name": net.name, "network": net.v4_cidr if ":" not in ip.address else net.v6_cidr}
    if recent:
        asn["type"] = net.type
    datacenter = net.type == "hosting" and bool(net.datacenter)
    return {
        "address": ip.address,
        "geolocation": _geolocation(ip),
        "asn": asn,
        "datacenter": {"result": datacenter, "name": net.datacenter if datacenter else ""},
    }


def _ip_info(f: EventFacts) -> dict[str, Any]:
    data = {"v4": _ip_block(f.ip_v4, f.recent_schema)}
    if f.ip_v6 is not None:
        data["v6"] = _ip_block(f.ip_v6, f.recent_schema)
    return data


def _vpn(f: EventFacts) -> dict[str, Any]:
    v = f.vpn
    data: dict[str, Any] = {"result": v.result, "confidence": v.confidence}
    if v.ml_score is not None:
        data["mlScore"] = v.ml_score
    methods: dict[str, Any] = {
        "timezoneMismatch": v.timezone_mismatch,
        "publicVPN": v.public_vpn,
        "auxiliaryMobile": v.auxiliary_mobile,
        "osMismatch": v.os_mismatch,
        "relay": v.relay,
    }
    if v.ml_prediction is not None:
        methods["mlPrediction"] = v.ml_prediction
    data.update(originTimezone=v.origin_timezone, originCountry=v.origin_country, methods=methods)
    return data


def _proxy(f: EventFacts) -> dict[str, Any]:
    p = f.proxy
    data: dict[str, Any] = {"result": p.result, "confidence": p.confidence}
    if p.ml_score is not None:
        data["mlScore"] = p.ml_score
    if p.proxy_type is not None:
        details: dict[str, Any] = {"proxyType": p.proxy_type}
        if p.last_seen_ms is not None:
            details["lastSeenAt"] = iso_s(p.last_seen_ms)
        data["details"] = details
    elif p.null_details:
        data["details"] = None
    return data


def _tampering(f: EventFacts) -> dict[str, Any]:
    t = f.tampering
    return {
        "result": t.result,
        "confidence": t.confidence,
        "anomalyScore": t.anomaly_score,
        "mlScore": t.ml_score,
        "antiDetectBrowser": t.anti_detect_browser,
    }


def _raw_attributes(f: EventFacts) -> dict[str, Any]:
    return {name: _raw_state(state) for name, state in f.raw_attributes}


def _raw_state(state: RawState) -> dict[str, Any]:
    if state is NOT_COLLECTED:
        return {}
    if isinstance(state, RawError):
        return {"error": {"name": state.name, "message": state.message}}
    return {"value": _clone(state)}


def _clone(value: Any) -> Any:
    """Copy nested lists/dicts: device attributes are shared by all visits of a visitor."""
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _velocity(f: EventFacts) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for metric in VELOCITY_METRICS:
        intervals = f.velocity[metric]
        if intervals is None:
            data[metric] = {}
            continue
        five, hour, day = intervals
        rendered = {"5m": five, "1h": hour} if day is None else {"5m": five, "1h": hour, "24h": day}
        data[metric] = {"intervals": rendered}
    return data


def _optional(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _result(attribute: str) -> Callable[[EventFacts], dict[str, Any]]:
    return lambda f: {"result": getattr(f, attribute)}


_DATA: dict[str, Callable[[EventFacts], Any]] = {
    "identification": _identification,
    "botd": _botd,
    "rootApps": _result("root_apps"),
    "emulator": _result("emulator"),
    "ipInfo": _ip_info,
    "ipBlocklist": lambda f: {
        "result": f.ip_blocklist,
        "details": {"emailSpam": f.email_spam, "attackSource": f.attack_source},
    },
    "tor": _result("tor"),
    "vpn": _vpn,
    "proxy": _proxy,
    "incognito": _result("incognito"),
    "tampering": _tampering,
    "clonedApp": _result("cloned_app"),
    "factoryReset": lambda f: {"time": iso_s(f.factory_reset_ms), "timestamp": f.factory_reset_ms // 1000},
    "jailbroken": _result("jailbroken"),
    "frida": _result("frida"),
    "privacySettings": _result("privacy_settings"),
    "virtualMachine": lambda f: _optional(result=f.virtual_machine, mlScore=f.virtual_machine_ml_score),
    "rawDeviceAttributes": _raw_attributes,
    "highActivity": lambda f: _optional(result=f.high_activity, dailyRequests=f.daily_requests),
    "locationSpoofing": _result("location_spoofing"),
    "suspectScore": _result("suspect_score"),
    "remoteControl": _result("remote_control"),
    "velocity": _velocity,
    "developerTools": _result("developer_tools"),
    "mitmAttack": _result("mitm_attack"),
    "rareDevice": lambda f: _optional(result=f.rare_device, percentileBucket=f.rare_device_bucket),
    "proximity": lambda f: {
        "id": f.proximity.id,
        "precisionRadius": f.proximity.precision_radius,
        "confidence": f.proximity.confidence,
    },
    "labels": lambda f: [_optional(label=x.label, prediction=x.prediction, mlScore=x.ml_score) for x in f.labels],
}


def _add_novelty(body: dict[str, Any], novelty: str) -> None:
    """Add the unknown field named `novelty` (a key of `facts.NOVELTIES`) where its path says."""
    products = body["products"]
    if novelty == "identification.newSignal":
        products["identification"]["data"]["newSignal"] = {"score": 0.42, "enabled": True}
    elif novelty == "vpn.methods.newMethod":
        products["vpn"]["data"]["methods"]["newMethod"] = False
    elif novelty == "newProduct":
        products["newProduct"] = {"data": {"result": False, "details": {"level": "low"}}}
    elif novelty == "envelope.requestMeta":
        body["requestMeta"] = {"region": "global", "served": "simulator"}
