"""The field catalog: every warehouse column that comes from the Server API, declared exactly once.

Each column names its dtype, its source path in a v3 response (and, where it exists, in a v4 event) and a
description. The flattener, the table schemas, `python -m transforms.catalog` and the README data dictionary
are all derived from these declarations, so supporting a field the API grows is a one-line change here.

Paths are dotted from the table's anchor: the event root for `events`, or the element a row stands for
(`products.ipInfo.data.v4` for one `ip_info` row). In an anchor `[]` marks a list element (its index goes
to the table's `position` column) and `*` a free key (the key goes to the named key column).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import polars as pl

# The kinds a source value can have. Each maps to one warehouse dtype; `json` keeps free-form values
# (tag, raw device attribute values) as valid JSON text, the only place JSON text is allowed.
DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "timestamp": pl.Datetime("us", "UTC"),
    "json": pl.String(),
}


@dataclass(frozen=True)
class Column:
    """One warehouse column and where each API version keeps its value ("" = the anchor itself)."""

    name: str
    kind: str
    v3: str | None
    v4: str | None
    description: str

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.kind]


@dataclass(frozen=True)
class Anchor:
    """Where the rows of a table start in a response, with the constant key values those rows get."""

    path: str
    fixed: tuple[tuple[str, str], ...] = ()
    slot: str | None = None  # key column filled with the `[]` index or the `*` key of the anchor


@dataclass(frozen=True)
class Table:
    """A silver table derived from API responses: keys first, then the catalog columns."""

    name: str
    description: str
    keys: tuple[Column, ...]
    columns: tuple[Column, ...]
    anchors: dict[int, tuple[Anchor, ...]] = field(default_factory=dict)

    @property
    def schema(self) -> pl.Schema:
        """The table's full schema: request_id, api_version, its keys, then its columns."""
        cols = [*SYSTEM_COLUMNS, *self.keys, *self.columns]
        return pl.Schema({c.name: c.dtype for c in cols})


def col(name: str, kind: str, v3: str | None, description: str, v4: str | None = None) -> Column:
    return Column(name, kind, v3, v4, description)


def key(name: str, kind: str, description: str) -> Column:
    return Column(name, kind, None, None, description)


SYSTEM_COLUMNS = (
    key("request_id", "string", "The request ID the event was fetched by (the ID the application logged)."),
    key("api_version", "int", "Server API version the row was read from (3 or 4)."),
)

ID = "products.identification.data."
BOTD = "products.botd.data."

# Boolean-result products: v3 `products.<name>.data.result`, one boolean column each.
BOOLEAN_PRODUCTS: tuple[tuple[str, str, str], ...] = (
    ("root_apps", "rootApps", "Android: root-management apps (e.g. Magisk) found. False on web."),
    ("emulator", "emulator", "Android: the app runs in an emulated environment. False on web."),
    ("tor", "tor", "The IP is a known Tor exit node."),
    ("incognito", "incognito", "Web: private/incognito browsing mode."),
    ("cloned_app", "clonedApp", "Android: app cloner or non-main work profile. False on web."),
    ("jailbroken", "jailbroken", "iOS: jailbroken device. False on web."),
    ("frida", "frida", "Android/iOS: Frida instrumentation detected. False on web."),
    ("privacy_settings", "privacySettings", "Web: privacy-focused browser or fingerprinting blocked."),
    ("virtual_machine", "virtualMachine", "Web: the browser runs inside a virtual machine."),
    ("location_spoofing", "locationSpoofing", "Android/iOS: location spoofing enabled. False on web."),
    ("developer_tools", "developerTools", "DevTools open (web) or developer options on (mobile)."),
    ("mitm_attack", "mitmAttack", "Android/iOS: SDK traffic intercepted (man in the middle). False on web."),
    ("remote_control", "remoteControl", "Deprecated: machine under remote control (e.g. TeamViewer)."),
    ("high_activity", "highActivity", "High-activity visitor."),
    ("ip_blocklist", "ipBlocklist", "The IP is on any blocklist."),
    ("vpn", "vpn", "VPN detected."),
    ("proxy", "proxy", "Proxy detected."),
    ("tampering", "tampering", "Anomalous browser attributes or an anti-detect browser."),
    ("rare_device", "rareDevice", "Beta: device in the top 0.1 % rarest configurations, or never seen."),
)

# Every v3 product key, for the `product_errors` table and for counting unknown products.
PRODUCTS_V3: tuple[str, ...] = (
    "identification",
    "botd",
    "rootApps",
    "emulator",
    "ipInfo",
    "ipBlocklist",
    "tor",
    "vpn",
    "proxy",
    "incognito",
    "tampering",
    "clonedApp",
    "factoryReset",
    "jailbroken",
    "frida",
    "privacySettings",
    "virtualMachine",
    "rawDeviceAttributes",
    "highActivity",
    "locationSpoofing",
    "suspectScore",
    "remoteControl",
    "velocity",
    "developerTools",
    "mitmAttack",
    "rareDevice",
    "proximity",
    "labels",
)


def _geo(prefix: str, path: str, what: str) -> tuple[Column, ...]:
    """Geolocation columns shared by `ipInfo.v4/v6.geolocation` and the deprecated `ipLocation`."""
    p = f"{path}." if path else ""
    return (
        col(f"{prefix}accuracy_radius", "int", f"{p}accuracyRadius", f"{what}: accuracy radius, km."),
        col(f"{prefix}latitude", "float", f"{p}latitude", f"{what}: latitude."),
        col(f"{prefix}longitude", "float", f"{p}longitude", f"{what}: longitude."),
        col(f"{prefix}postal_code", "string", f"{p}postalCode", f"{what}: postal code (may contain spaces)."),
        col(f"{prefix}timezone", "string", f"{p}timezone", f"{what}: IANA time zone."),
        col(f"{prefix}city_name", "string", f"{p}city.name", f"{what}: city."),
        col(f"{prefix}country_code", "string", f"{p}country.code", f"{what}: ISO 3166 alpha-2 country."),
        col(f"{prefix}country_name", "string", f"{p}country.name", f"{what}: country name."),
        col(f"{prefix}continent_code", "string", f"{p}continent.code", f"{what}: continent code."),
        col(f"{prefix}continent_name", "string", f"{p}continent.name", f"{what}: continent name."),
    )


_IDENTIFICATION = (
    col("visitor_id", "string", ID + "visitorId", "Fingerprint visitor ID (stable browser/device ID)."),
    col("visitor_found", "bool", ID + "visitorFound", "The visitor had been seen before."),
    col("timestamp", "timestamp", ID + "timestamp", "Event time (UTC), from the epoch-ms `timestamp`."),
    col("timestamp_ms", "int", ID + "timestamp", "Event time as epoch milliseconds, as the API gives it."),
    col("identification_time", "timestamp", ID + "time", "Event time as the API's ISO `time` string."),
    col("identification_request_id", "string", ID + "requestId", "Request ID as identification reports it."),
    col("confidence_score", "float", ID + "confidence.score", "Identification confidence, 0..1."),
    col("confidence_revision", "string", ID + "confidence.revision", "Confidence model revision."),
    col("confidence_comment", "string", ID + "confidence.comment", "Confidence comment, if any."),
    col("first_seen_at", "timestamp", ID + "firstSeenAt.subscription", "Visitor first seen (workspace)."),
    col("first_seen_at_global", "timestamp", ID + "firstSeenAt.global", "Visitor first seen (global)."),
    col("last_seen_at", "timestamp", ID + "lastSeenAt.subscription", "Previous visit (workspace); null first."),
    col("last_seen_at_global", "timestamp", ID + "lastSeenAt.global", "Previous visit (global); null first."),
    col("url", "string", ID + "url", "Page URL of the identification request (not re-encoded)."),
    col("ip", "string", ID + "ip", "Client IP address (v4 or v6 text)."),
    col("linked_id", "string", ID + "linkedId", "Customer-supplied linked ID (<= 256 chars)."),
    col("tag", "json", ID + "tag", "Customer-supplied tag object, as JSON text."),
    col("suspect", "bool", ID + "suspect", "Set by the customer through the Update API."),
    col("replayed", "bool", ID + "replayed", "The identification payload was replayed."),
    col("environment_id", "string", ID + "environmentId", "Fingerprint environment ID."),
    col("identification_incognito", "bool", ID + "incognito", "Incognito flag inside identification."),
    col("browser_name", "string", ID + "browserDetails.browserName", "Browser name."),
    col("browser_major_version", "string", ID + "browserDetails.browserMajorVersion", "Browser major version."),
    col("browser_full_version", "string", ID + "browserDetails.browserFullVersion", "Browser full version."),
    col("os", "string", ID + "browserDetails.os", "Operating system."),
    col("os_version", "string", ID + "browserDetails.osVersion", "Operating system version."),
    col("device", "string", ID + "browserDetails.device", "Device (`Other` on desktop)."),
    col("user_agent", "string", ID + "browserDetails.userAgent", "User agent string."),
    col("sdk_platform", "string", ID + "sdk.platform", "SDK platform: js, android, ios."),
    col("sdk_version", "string", ID + "sdk.version", "SDK version."),
    *_geo("ip_location_", ID + "ipLocation", "Deprecated identification ipLocation"),
)

_BOTD = (
    col("bot_result", "string", BOTD + "bot.result", "Bot detection: notDetected, good, bad."),
    col("bot_type", "string", BOTD + "bot.type", "Bot type when detected (e.g. headlessChrome)."),
    col("botd_meta", "json", BOTD + "meta", "botd `meta` (the customer tag), as JSON text."),
    col("botd_linked_id", "string", BOTD + "linkedId", "Linked ID as botd reports it."),
    col("botd_url", "string", BOTD + "url", "Page URL as botd reports it."),
    col("botd_ip", "string", BOTD + "ip", "Client IP as botd reports it."),
    col("botd_time", "timestamp", BOTD + "time", "botd request time."),
    col("botd_user_agent", "string", BOTD + "userAgent", "User agent as botd reports it."),
    col("botd_request_id", "string", BOTD + "requestId", "Request ID as botd reports it."),
)

_SMART_SIGNALS = (
    *(col(n, "bool", f"products.{p}.data.result", d) for n, p, d in BOOLEAN_PRODUCTS),
    col("virtual_machine_ml_score", "float", "products.virtualMachine.data.mlScore", "VM model score 0..1."),
    col(
        "high_activity_daily_requests",
        "int",
        "products.highActivity.data.dailyRequests",
        "Requests yesterday.",
    ),
    col("ip_blocklist_email_spam", "bool", "products.ipBlocklist.data.details.emailSpam", "IP sends spam."),
    col("ip_blocklist_attack_source", "bool", "products.ipBlocklist.data.details.attackSource", "IP attacks."),
    col("vpn_confidence", "string", "products.vpn.data.confidence", "VPN confidence: low, medium, high."),
    col("vpn_ml_score", "float", "products.vpn.data.mlScore", "Beta: VPN model score 0..1."),
    col("vpn_origin_timezone", "string", "products.vpn.data.originTimezone", "Device's own time zone."),
    col("vpn_origin_country", "string", "products.vpn.data.originCountry", "Device's country or `unknown`."),
    *(
        col(f"vpn_method_{n}", "bool", f"products.vpn.data.methods.{p}", d)
        for n, p, d in (
            ("timezone_mismatch", "timezoneMismatch", "VPN method: browser time zone differs from the IP's."),
            ("public_vpn", "publicVPN", "VPN method: IP of a public VPN provider."),
            ("auxiliary_mobile", "auxiliaryMobile", "VPN method: mobile OS VPN settings (mobile only)."),
            ("os_mismatch", "osMismatch", "VPN method: OS mismatch in the network stack."),
            ("relay", "relay", "VPN method: relay service (iCloud Private Relay, WARP)."),
            ("ml_prediction", "mlPrediction", "VPN method: the ML model predicts a VPN."),
        )
    ),
    col("proxy_confidence", "string", "products.proxy.data.confidence", "Proxy confidence: low, medium, high."),
    col("proxy_ml_score", "float", "products.proxy.data.mlScore", "Beta: proxy model score 0..1."),
    col("proxy_type", "string", "products.proxy.data.details.proxyType", "residential, data_center, unknown."),
    col(
        "proxy_last_seen_at",
        "timestamp",
        "products.proxy.data.details.lastSeenAt",
        "Proxy last seen (hourly).",
    ),
    col("tampering_confidence", "string", "products.tampering.data.confidence", "Tampering confidence."),
    col("tampering_anomaly_score", "float", "products.tampering.data.anomalyScore", "0..1; > 0.5 tampered."),
    col("tampering_ml_score", "float", "products.tampering.data.mlScore", "Anti-detect model 0..1; > 0.8."),
    col(
        "tampering_anti_detect_browser",
        "bool",
        "products.tampering.data.antiDetectBrowser",
        "Web: an anti-detect browser was found.",
    ),
    col(
        "factory_reset_time",
        "timestamp",
        "products.factoryReset.data.time",
        "Last factory reset; 1970-01-01 means unknown (and always on web).",
    ),
    col(
        "factory_reset_timestamp",
        "int",
        "products.factoryReset.data.timestamp",
        "Last factory reset as the API's raw epoch number (unit not documented; 0 = unknown).",
    ),
    col("suspect_score", "int", "products.suspectScore.data.result", "Sum of the weights of fired signals."),
    col(
        "rare_device_percentile_bucket",
        "string",
        "products.rareDevice.data.percentileBucket",
        "Beta: rarity bucket (<p95 ... p99.9+, not_seen).",
    ),
    col("proximity_id", "string", "products.proximity.data.id", "Opaque proximity zone ID."),
    col(
        "proximity_precision_radius",
        "int",
        "products.proximity.data.precisionRadius",
        "Proximity zone radius, metres.",
    ),
    col("proximity_confidence", "float", "products.proximity.data.confidence", "Proximity confidence 0..1."),
)

_IP_V4 = "products.ipInfo.data.v4."
# A few IPv4 facts repeated on `events` so the common questions need no join; `ip_info` has them all.
_IP_V4_SHORTCUTS = (
    col("ip_v4_address", "string", _IP_V4 + "address", "ipInfo v4: address."),
    col("ip_v4_country_code", "string", _IP_V4 + "geolocation.country.code", "ipInfo v4: country code."),
    col("ip_v4_city_name", "string", _IP_V4 + "geolocation.city.name", "ipInfo v4: city."),
    col("ip_v4_timezone", "string", _IP_V4 + "geolocation.timezone", "ipInfo v4: IANA time zone."),
    col("ip_v4_asn", "string", _IP_V4 + "asn.asn", "ipInfo v4: autonomous system number (text)."),
    col("ip_v4_asn_name", "string", _IP_V4 + "asn.name", "ipInfo v4: AS name."),
    col("ip_v4_datacenter", "bool", _IP_V4 + "datacenter.result", "ipInfo v4: IP belongs to a datacenter."),
)

EVENTS = Table(
    name="events",
    description="One row per fetched event: identification, botd, every scalar smart signal.",
    keys=(),
    columns=(*_IDENTIFICATION, *_BOTD, *_SMART_SIGNALS, *_IP_V4_SHORTCUTS),
    anchors={3: (Anchor(""),)},
)

IP_INFO = Table(
    name="ip_info",
    description="One row per event and IP version (v4, v6): address, geolocation, ASN, datacenter.",
    keys=(key("ip_version", "string", "`v4` or `v6`."),),
    columns=(
        col("address", "string", "address", "IP address."),
        *_geo("", "geolocation", "IP geolocation"),
        col("asn", "string", "asn.asn", "Autonomous system number (text, e.g. `7922`)."),
        col("asn_name", "string", "asn.name", "AS name."),
        col("asn_network", "string", "asn.network", "AS network (CIDR)."),
        col("asn_type", "string", "asn.type", "AS type (isp, hosting, ...)."),
        col("datacenter_result", "bool", "datacenter.result", "The IP belongs to a datacenter."),
        col("datacenter_name", "string", "datacenter.name", "Datacenter name (empty when none)."),
    ),
    anchors={
        3: (
            Anchor("products.ipInfo.data.v4", (("ip_version", "v4"),)),
            Anchor("products.ipInfo.data.v6", (("ip_version", "v6"),)),
        )
    },
)

IP_SUBDIVISIONS = Table(
    name="ip_subdivisions",
    description="Subdivisions (regions) of every geolocation in an event, in the API's order.",
    keys=(
        key("source", "string", "`ip_info_v4`, `ip_info_v6` or `ip_location` (deprecated identification)."),
        key("position", "int", "0-based position in the API's list (country-level first)."),
    ),
    columns=(
        col("iso_code", "string", "isoCode", "Subdivision ISO code (text, may look numeric)."),
        col("name", "string", "name", "Subdivision name."),
    ),
    anchors={
        3: (
            Anchor("products.ipInfo.data.v4.geolocation.subdivisions[]", (("source", "ip_info_v4"),), "position"),
            Anchor("products.ipInfo.data.v6.geolocation.subdivisions[]", (("source", "ip_info_v6"),), "position"),
            Anchor(ID + "ipLocation.subdivisions[]", (("source", "ip_location"),), "position"),
        )
    },
)

VELOCITY_METRICS: tuple[tuple[str, str], ...] = (
    ("distinct_ip", "distinctIp"),
    ("distinct_linked_id", "distinctLinkedId"),
    ("distinct_country", "distinctCountry"),
    ("events", "events"),
    ("ip_events", "ipEvents"),
    ("distinct_ip_by_linked_id", "distinctIpByLinkedId"),
    ("distinct_visitor_id_by_linked_id", "distinctVisitorIdByLinkedId"),
)
VELOCITY_INTERVALS: tuple[str, ...] = ("5m", "1h", "24h")

VELOCITY = Table(
    name="velocity",
    description="Velocity counters in long format; an interval the API did not compute has no row.",
    keys=(
        key("metric", "string", "Metric: " + ", ".join(m for m, _ in VELOCITY_METRICS) + "."),
        key("interval", "string", "Look-back window before the event: `5m`, `1h`, `24h`."),
    ),
    columns=(col("value", "int", "", "Count over the interval."),),
    anchors={
        3: tuple(
            Anchor(f"products.velocity.data.{v3}.intervals.{i}", (("metric", m), ("interval", i)))
            for m, v3 in VELOCITY_METRICS
            for i in VELOCITY_INTERVALS
        )
    },
)

SDK_INTEGRATIONS = Table(
    name="sdk_integrations",
    description="Client SDK integrations (e.g. fingerprint-pro-react) reported with an event.",
    keys=(key("position", "int", "0-based position in the API's list."),),
    columns=(
        col("name", "string", "name", "Integration name."),
        col("version", "string", "version", "Integration version."),
        col("subintegration_name", "string", "subintegration.name", "Sub-integration name (e.g. preact)."),
        col("subintegration_version", "string", "subintegration.version", "Sub-integration version."),
    ),
    anchors={3: (Anchor(ID + "sdk.integrations[]", (), "position"),)},
)

RAW_DEVICE_ATTRIBUTES = Table(
    name="raw_device_attributes",
    description="Raw device attributes as key/value rows; values of any shape kept as JSON text.",
    keys=(
        key("source", "string", "`raw_device_attributes` or `components` (identification.components)."),
        key("attribute", "string", "Attribute name as the API spells it (open set)."),
    ),
    columns=(
        col("value_json", "json", "value", "The attribute's value as JSON text; null when not collected."),
        col("error_name", "string", "error.name", "Collection error name, if collection failed."),
        col("error_message", "string", "error.message", "Collection error message."),
    ),
    anchors={
        3: (
            Anchor("products.rawDeviceAttributes.data.*", (("source", "raw_device_attributes"),), "attribute"),
            Anchor(ID + "components.*", (("source", "components"),), "attribute"),
        )
    },
)

LABELS = Table(
    name="labels",
    description="Beta: model labels attached to an event.",
    keys=(key("position", "int", "0-based position in the API's list."),),
    columns=(
        col("label", "string", "label", "Label name."),
        col("prediction", "bool", "prediction", "The model predicts the label."),
        col("ml_score", "float", "mlScore", "Model score 0..1."),
    ),
    anchors={3: (Anchor("products.labels.data[]", (), "position"),)},
)

PRODUCT_ERRORS = Table(
    name="product_errors",
    description="One row per product that came back as an error instead of data; its columns are NULL.",
    keys=(key("product", "string", "v3 product key, e.g. `botd`, `ipInfo`."),),
    columns=(
        col("code", "string", "code", "Error code (e.g. Failed)."),
        col("message", "string", "message", "Error message."),
    ),
    anchors={3: tuple(Anchor(f"products.{p}.error", (("product", p),)) for p in PRODUCTS_V3)},
)

TABLES: tuple[Table, ...] = (
    EVENTS,
    IP_INFO,
    IP_SUBDIVISIONS,
    VELOCITY,
    SDK_INTEGRATIONS,
    RAW_DEVICE_ATTRIBUTES,
    LABELS,
    PRODUCT_ERRORS,
)

# Containers the flattener may meet that carry no column of their own: the product envelopes.
CONTAINERS_V3: tuple[str, ...] = tuple(f"products.{p}.data" for p in PRODUCTS_V3)


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)


def _join(anchor: str, path: str) -> str:
    return ".".join(p for p in (anchor, path) if p)


@dataclass(frozen=True)
class CatalogEntry:
    api_version: int
    json_path: str
    table: str
    column: str
    dtype: str
    description: str


def entries() -> Iterator[CatalogEntry]:
    """Every (API version, JSON path) → (table, column) pair, in declaration order."""
    for t in TABLES:
        for version, anchors in sorted(t.anchors.items()):
            for anchor in anchors:
                for c in t.columns:
                    path = c.v3 if version == 3 else c.v4
                    if path is None:
                        continue
                    yield CatalogEntry(version, _join(anchor.path, path), t.name, c.name, str(c.dtype), c.description)


def to_json() -> bytes:
    return orjson.dumps([e.__dict__ for e in entries()], option=orjson.OPT_INDENT_2)


def to_markdown() -> str:
    lines = ["| api | json_path | table | column | dtype | description |", "|---|---|---|---|---|---|"]
    for e in entries():
        lines.append(f"| v{e.api_version} | `{e.json_path}` | {e.table} | {e.column} | {e.dtype} | {e.description} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("json", "markdown"), default="json")
    args = parser.parse_args(argv)
    if args.format == "json":
        sys.stdout.buffer.write(to_json() + b"\n")
    else:
        sys.stdout.write(to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
