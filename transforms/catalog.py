"""The field catalog: every warehouse column that comes from the Server API, declared exactly once.

Each column names its dtype, its source path in a v3 response (and, where it exists, in a v4 event) and a
description. The flattener, the table schemas, `python -m transforms.catalog` and the README data dictionary
are all derived from these declarations, so supporting a field the API grows is a one-line change here.

Paths are dotted from the table's anchor: the event root for `events`, or the element a row stands for
(`products.ipInfo.data.v4` for one `ip_info` row). In an anchor `[]` marks a list element (its index goes
to the table's `position` column) and `*` a free key (the key goes to the named key column).

v3 and v4 rows land in the same columns. Where v4 spells a value differently, `v4_values` maps it to the v3
spelling already stored for history (`bot`: `not_detected` -> `notDetected`); where v4 has no field of its
own for a v3 column, `v4_any` derives it as "any of these v4 booleans" (v3 `ipBlocklist.result`). A column
whose source is None for a version is NULL in that version's rows.

A column holding personal data the privacy settings govern carries a `privacy` marker (`ip` or `url`, see
`transforms.privacy`): the silver build rewrites exactly the marked columns, and the data dictionary shows the
marker. The raw device attributes carry no marker: none of the documented ones holds an address or a URL
(API.md 10, 12.3); the customer's own `tag` and `linked_id` are the customer's to keep clean.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import orjson
import polars as pl

from transforms.privacy import Sensitive

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


# The object under which `transforms.dialects.v3_webhook` puts a v3 webhook's own fields in the v3 event shape.
V3_WEBHOOK_PREFIX = "webhook."


@dataclass(frozen=True)
class Column:
    """One warehouse column and where each API version keeps its value ("" = the anchor itself)."""

    name: str
    kind: str
    v3: str | None
    v4: str | None
    description: str
    v4_values: Mapping[str, str] | None = field(default=None, hash=False, compare=False)
    v4_any: tuple[str, ...] = ()  # bool column: true when any of these v4 paths is true
    privacy: Sensitive | None = None  # personal data FPWH_IP_PRIVACY / FPWH_URL_PRIVACY rewrite

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.kind]

    def paths(self, api_version: int) -> tuple[str, ...]:
        """Every source path of this column in one API version (none: NULL in that version's rows)."""
        if api_version == 3:
            return () if self.v3 is None else (self.v3,)
        return (*(() if self.v4 is None else (self.v4,)), *self.v4_any)

    def fetched_paths(self, api_version: int) -> tuple[str, ...]:
        """`paths` without those only a v3 webhook fills: where a `GET /events` body of the version has the value."""
        return tuple(p for p in self.paths(api_version) if api_version != 3 or not p.startswith(V3_WEBHOOK_PREFIX))


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

    @property
    def privacy(self) -> dict[str, Sensitive]:
        """Column -> privacy marker, for the columns that carry one."""
        return {c.name: c.privacy for c in self.columns if c.privacy is not None}


def col(
    name: str, kind: str, v3: str | None, description: str, v4: str | None = None, *, privacy: Sensitive | None = None
) -> Column:
    """A column both API versions fill (`v4=None`: v3 only). Value spellings and any-of flags: `Column` itself."""
    return Column(name, kind, v3, v4, description, privacy=privacy)


def v4only(name: str, kind: str, v4: str, description: str, privacy: Sensitive | None = None) -> Column:
    """A column only Server API v4 fills (NULL in v3 rows)."""
    return Column(name, kind, None, v4, "v4 only: " + description, privacy=privacy)


def pushed(
    name: str, kind: str, v3_webhook: str, v4: str, description: str, privacy: Sensitive | None = None
) -> Column:
    """A column v4 events and v3 webhooks fill (NULL in fetched v3 rows): `v3_webhook` is its path in the v3
    event a webhook converts to (see `transforms.dialects.v3_webhook`)."""
    text = "v4 and v3 webhooks only: " + description
    return Column(name, kind, V3_WEBHOOK_PREFIX + v3_webhook, v4, text, privacy=privacy)


def key(name: str, kind: str, description: str) -> Column:
    return Column(name, kind, None, None, description)


SYSTEM_COLUMNS = (
    key("request_id", "string", "The request ID the event was fetched by (the ID the application logged)."),
    key("api_version", "int", "Server API version the row was read from (3 or 4)."),
)

ID = "products.identification.data."
BOTD = "products.botd.data."

# Boolean-result products: v3 `products.<name>.data.result`, one boolean column each, and the v4 field that
# carries the same answer (None: no v4 field; a tuple: true when any of those v4 fields is true).
_BLOCKLIST_V4 = ("ip_blocklist.email_spam", "ip_blocklist.attack_source", "ip_blocklist.tor_node")
BOOLEAN_PRODUCTS: tuple[tuple[str, str, str | tuple[str, ...] | None, str], ...] = (
    ("root_apps", "rootApps", "root_apps", "Android: root-management apps (e.g. Magisk) found. False on web."),
    ("emulator", "emulator", "emulator", "Android: the app runs in an emulated environment. False on web."),
    ("tor", "tor", "ip_blocklist.tor_node", "The IP is a known Tor exit node (v4: `ip_blocklist.tor_node`)."),
    ("incognito", "incognito", "incognito", "Web: private/incognito browsing mode."),
    ("cloned_app", "clonedApp", "cloned_app", "Android: app cloner or non-main work profile. False on web."),
    ("jailbroken", "jailbroken", "jailbroken", "iOS: jailbroken device. False on web."),
    ("frida", "frida", "frida", "Android/iOS: Frida instrumentation detected. False on web."),
    (
        "privacy_settings",
        "privacySettings",
        "privacy_settings",
        "Web: privacy-focused browser or fingerprinting blocked.",
    ),
    ("virtual_machine", "virtualMachine", "virtual_machine", "Web: the browser runs inside a virtual machine."),
    (
        "location_spoofing",
        "locationSpoofing",
        "location_spoofing",
        "Android/iOS: location spoofing enabled. False on web.",
    ),
    ("developer_tools", "developerTools", "developer_tools", "DevTools open (web) or developer options on (mobile)."),
    (
        "mitm_attack",
        "mitmAttack",
        "mitm_attack",
        "Android/iOS: SDK traffic intercepted (man in the middle). False on web.",
    ),
    ("remote_control", "remoteControl", None, "Deprecated: machine under remote control (e.g. TeamViewer)."),
    ("high_activity", "highActivity", "high_activity_device", "High-activity visitor."),
    ("ip_blocklist", "ipBlocklist", _BLOCKLIST_V4, "The IP is on any blocklist (v4: any `ip_blocklist` flag)."),
    ("vpn", "vpn", "vpn", "VPN detected."),
    ("proxy", "proxy", "proxy", "Proxy detected."),
    ("tampering", "tampering", "tampering", "Anomalous browser attributes or an anti-detect browser."),
    ("rare_device", "rareDevice", "rare_device", "Beta: device in the top 0.1 % rarest configurations, or never seen."),
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


def _geo(prefix: str, path: str, what: str, v4: str | None) -> tuple[Column, ...]:
    """Geolocation columns shared by `ipInfo.v4/v6.geolocation` and the deprecated `ipLocation` (v4: None)."""
    p = f"{path}." if path else ""
    fields = (
        ("accuracy_radius", "int", "accuracyRadius", "accuracy_radius", "accuracy radius, km."),
        ("latitude", "float", "latitude", "latitude", "latitude."),
        ("longitude", "float", "longitude", "longitude", "longitude."),
        ("postal_code", "string", "postalCode", "postal_code", "postal code (may contain spaces)."),
        ("timezone", "string", "timezone", "timezone", "IANA time zone."),
        ("city_name", "string", "city.name", "city_name", "city."),
        ("country_code", "string", "country.code", "country_code", "ISO 3166 alpha-2 country."),
        ("country_name", "string", "country.name", "country_name", "country name."),
        ("continent_code", "string", "continent.code", "continent_code", "continent code."),
        ("continent_name", "string", "continent.name", "continent_name", "continent name."),
    )
    return tuple(
        col(prefix + name, kind, p + v3, f"{what}: {text}", None if v4 is None else f"{v4}.{v4_name}")
        for name, kind, v3, v4_name, text in fields
    )


_IDENTIFICATION = (
    col(
        "visitor_id",
        "string",
        ID + "visitorId",
        "Fingerprint visitor ID (stable browser/device ID).",
        "identification.visitor_id",
    ),
    col(
        "visitor_found",
        "bool",
        ID + "visitorFound",
        "The visitor had been seen before.",
        "identification.visitor_found",
    ),
    col("timestamp", "timestamp", ID + "timestamp", "Event time (UTC), from the epoch-ms `timestamp`.", "timestamp"),
    col("timestamp_ms", "int", ID + "timestamp", "Event time as epoch milliseconds, as the API gives it.", "timestamp"),
    col("identification_time", "timestamp", ID + "time", "Event time as the API's ISO `time` string (v3 only)."),
    col(
        "identification_request_id",
        "string",
        ID + "requestId",
        "Request ID as identification reports it (v4: `event_id`).",
        "event_id",
    ),
    col(
        "confidence_score",
        "float",
        ID + "confidence.score",
        "Identification confidence, 0..1.",
        "identification.confidence.score",
    ),
    col(
        "confidence_revision",
        "string",
        ID + "confidence.revision",
        "Confidence model revision (v3 `v1.1`, v4 `1.1`).",
        "identification.confidence.version",
    ),
    col(
        "confidence_comment",
        "string",
        ID + "confidence.comment",
        "Confidence comment, if any.",
        "identification.confidence.comment",
    ),
    col(
        "first_seen_at",
        "timestamp",
        ID + "firstSeenAt.subscription",
        "Visitor first seen (workspace).",
        "identification.first_seen_at",
    ),
    col("first_seen_at_global", "timestamp", ID + "firstSeenAt.global", "Visitor first seen (global; v3 only)."),
    col(
        "last_seen_at",
        "timestamp",
        ID + "lastSeenAt.subscription",
        "Previous visit (workspace); null first.",
        "identification.last_seen_at",
    ),
    col("last_seen_at_global", "timestamp", ID + "lastSeenAt.global", "Previous visit (global; v3 only); null first."),
    col(
        "url",
        "string",
        ID + "url",
        "Page URL of the identification request (not re-encoded; v4: web only).",
        "url",
        privacy="url",
    ),
    col("ip", "string", ID + "ip", "Client IP address (v4 or v6 text).", "ip_address", privacy="ip"),
    col("linked_id", "string", ID + "linkedId", "Customer-supplied linked ID (<= 256 chars).", "linked_id"),
    col("tag", "json", ID + "tag", "Customer-supplied tag object, as JSON text (v4: `tags`).", "tags"),
    col("suspect", "bool", ID + "suspect", "Set by the customer through the Update API.", "suspect"),
    col("replayed", "bool", ID + "replayed", "The identification payload was replayed.", "replayed"),
    col("environment_id", "string", ID + "environmentId", "Fingerprint environment ID.", "environment_id"),
    col(
        "identification_incognito",
        "bool",
        ID + "incognito",
        "Incognito flag inside identification (v3 only; v4: `incognito`).",
    ),
    col("browser_name", "string", ID + "browserDetails.browserName", "Browser name.", "browser_details.browser_name"),
    col(
        "browser_major_version",
        "string",
        ID + "browserDetails.browserMajorVersion",
        "Browser major version.",
        "browser_details.browser_major_version",
    ),
    col(
        "browser_full_version",
        "string",
        ID + "browserDetails.browserFullVersion",
        "Browser full version.",
        "browser_details.browser_full_version",
    ),
    # v4 repeats these at the top level for every platform, and in `browser_details` for browsers only
    col("os", "string", ID + "browserDetails.os", "Operating system.", "os"),
    col(
        "os_version",
        "string",
        ID + "browserDetails.osVersion",
        "Operating system version.",
        "os_version",
    ),
    col("device", "string", ID + "browserDetails.device", "Device (`Other` on desktop).", "device"),
    col("user_agent", "string", ID + "browserDetails.userAgent", "User agent string.", "user_agent"),
    col("sdk_platform", "string", ID + "sdk.platform", "SDK platform: js, android, ios.", "sdk.platform"),
    col("sdk_version", "string", ID + "sdk.version", "SDK version.", "sdk.version"),
    *_geo("ip_location_", ID + "ipLocation", "Deprecated identification ipLocation (v3 only)", None),
)

_BOTD = (
    Column(
        "bot_result",
        "string",
        BOTD + "bot.result",
        "bot",
        "Bot detection: notDetected, good, bad.",
        v4_values={"not_detected": "notDetected"},
    ),
    col("bot_type", "string", BOTD + "bot.type", "Bot type when detected (e.g. headlessChrome).", "bot_type"),
    col("botd_meta", "json", BOTD + "meta", "botd `meta` (the customer tag), as JSON text (v3 only)."),
    col("botd_linked_id", "string", BOTD + "linkedId", "Linked ID as botd reports it (v3 only)."),
    col("botd_url", "string", BOTD + "url", "Page URL as botd reports it (v3 only).", privacy="url"),
    col("botd_ip", "string", BOTD + "ip", "Client IP as botd reports it (v3 only).", privacy="ip"),
    col("botd_time", "timestamp", BOTD + "time", "botd request time (v3 only)."),
    col("botd_user_agent", "string", BOTD + "userAgent", "User agent as botd reports it (v3 only)."),
    col("botd_request_id", "string", BOTD + "requestId", "Request ID as botd reports it (v3 only)."),
)


def _boolean(name: str, product: str, v4: str | tuple[str, ...] | None, description: str) -> Column:
    if isinstance(v4, tuple):
        return Column(name, "bool", f"products.{product}.data.result", None, description, v4_any=v4)
    return col(name, "bool", f"products.{product}.data.result", description, v4)


_SMART_SIGNALS = (
    *(_boolean(*spec) for spec in BOOLEAN_PRODUCTS),
    col(
        "virtual_machine_ml_score",
        "float",
        "products.virtualMachine.data.mlScore",
        "VM model score 0..1.",
        "virtual_machine_ml_score",
    ),
    col(
        "high_activity_daily_requests",
        "int",
        "products.highActivity.data.dailyRequests",
        "Requests yesterday (v3 only).",
    ),
    col(
        "ip_blocklist_email_spam",
        "bool",
        "products.ipBlocklist.data.details.emailSpam",
        "IP sends spam.",
        "ip_blocklist.email_spam",
    ),
    col(
        "ip_blocklist_attack_source",
        "bool",
        "products.ipBlocklist.data.details.attackSource",
        "IP attacks.",
        "ip_blocklist.attack_source",
    ),
    col(
        "vpn_confidence",
        "string",
        "products.vpn.data.confidence",
        "VPN confidence: low, medium, high.",
        "vpn_confidence",
    ),
    col("vpn_ml_score", "float", "products.vpn.data.mlScore", "Beta: VPN model score 0..1.", "vpn_ml_score"),
    col(
        "vpn_origin_timezone",
        "string",
        "products.vpn.data.originTimezone",
        "Device's own time zone.",
        "vpn_origin_timezone",
    ),
    col(
        "vpn_origin_country",
        "string",
        "products.vpn.data.originCountry",
        "Device's country or `unknown`.",
        "vpn_origin_country",
    ),
    *(
        col(f"vpn_method_{n}", "bool", f"products.vpn.data.methods.{p}", d, f"vpn_methods.{n}")
        for n, p, d in (
            ("timezone_mismatch", "timezoneMismatch", "VPN method: browser time zone differs from the IP's."),
            ("public_vpn", "publicVPN", "VPN method: IP of a public VPN provider."),
            ("auxiliary_mobile", "auxiliaryMobile", "VPN method: mobile OS VPN settings (mobile only)."),
            ("os_mismatch", "osMismatch", "VPN method: OS mismatch in the network stack."),
            ("relay", "relay", "VPN method: relay service (iCloud Private Relay, WARP)."),
            ("ml_prediction", "mlPrediction", "VPN method: the ML model predicts a VPN."),
        )
    ),
    col(
        "proxy_confidence",
        "string",
        "products.proxy.data.confidence",
        "Proxy confidence: low, medium, high.",
        "proxy_confidence",
    ),
    col("proxy_ml_score", "float", "products.proxy.data.mlScore", "Beta: proxy model score 0..1.", "proxy_ml_score"),
    col(
        "proxy_type",
        "string",
        "products.proxy.data.details.proxyType",
        "residential, data_center, unknown.",
        "proxy_details.proxy_type",
    ),
    col(
        "proxy_last_seen_at",
        "timestamp",
        "products.proxy.data.details.lastSeenAt",
        "Proxy last seen (hourly).",
        "proxy_details.last_seen_at",
    ),
    col(
        "tampering_confidence",
        "string",
        "products.tampering.data.confidence",
        "Tampering confidence.",
        "tampering_confidence",
    ),
    col(
        "tampering_anomaly_score",
        "float",
        "products.tampering.data.anomalyScore",
        "0..1; > 0.5 tampered.",
        "tampering_details.anomaly_score",
    ),
    col(
        "tampering_ml_score",
        "float",
        "products.tampering.data.mlScore",
        "Anti-detect model 0..1; > 0.8.",
        "tampering_ml_score",
    ),
    col(
        "tampering_anti_detect_browser",
        "bool",
        "products.tampering.data.antiDetectBrowser",
        "Web: an anti-detect browser was found.",
        "tampering_details.anti_detect_browser",
    ),
    # v3 sends the reset both as ISO `time` and as an epoch number in seconds; v4 only as epoch ms. The instant
    # is the shared column; the raw v3 number keeps its own column because its unit is not v4's.
    col(
        "factory_reset_time",
        "timestamp",
        "products.factoryReset.data.time",
        "Last factory reset; 1970-01-01 means unknown (and always on web in v3).",
        "factory_reset_timestamp",
    ),
    col(
        "factory_reset_timestamp",
        "int",
        "products.factoryReset.data.timestamp",
        "Last factory reset as v3's raw epoch number (seconds in practice; 0 = unknown). v3 only: v4's "
        "epoch ms land in `factory_reset_time`.",
    ),
    col(
        "suspect_score",
        "int",
        "products.suspectScore.data.result",
        "Sum of the weights of fired signals.",
        "suspect_score",
    ),
    col(
        "rare_device_percentile_bucket",
        "string",
        "products.rareDevice.data.percentileBucket",
        "Beta: rarity bucket (<p95 ... p99.9+, not_seen).",
        "rare_device_percentile_bucket",
    ),
    col("proximity_id", "string", "products.proximity.data.id", "Opaque proximity zone ID.", "proximity.id"),
    col(
        "proximity_precision_radius",
        "int",
        "products.proximity.data.precisionRadius",
        "Proximity zone radius, metres.",
        "proximity.precision_radius",
    ),
    col(
        "proximity_confidence",
        "float",
        "products.proximity.data.confidence",
        "Proximity confidence 0..1.",
        "proximity.confidence",
    ),
)

_IP_V4 = "products.ipInfo.data.v4."
# A few IPv4 facts repeated on `events` so the common questions need no join; `ip_info` has them all.
_IP_V4_SHORTCUTS = (
    col("ip_v4_address", "string", _IP_V4 + "address", "ipInfo v4: address.", "ip_info.v4.address", privacy="ip"),
    col(
        "ip_v4_country_code",
        "string",
        _IP_V4 + "geolocation.country.code",
        "ipInfo v4: country code.",
        "ip_info.v4.geolocation.country_code",
    ),
    col(
        "ip_v4_city_name",
        "string",
        _IP_V4 + "geolocation.city.name",
        "ipInfo v4: city.",
        "ip_info.v4.geolocation.city_name",
    ),
    col(
        "ip_v4_timezone",
        "string",
        _IP_V4 + "geolocation.timezone",
        "ipInfo v4: IANA time zone.",
        "ip_info.v4.geolocation.timezone",
    ),
    col("ip_v4_asn", "string", _IP_V4 + "asn.asn", "ipInfo v4: autonomous system number (text).", "ip_info.v4.asn"),
    col("ip_v4_asn_name", "string", _IP_V4 + "asn.name", "ipInfo v4: AS name.", "ip_info.v4.asn_name"),
    col(
        "ip_v4_datacenter",
        "bool",
        _IP_V4 + "datacenter.result",
        "ipInfo v4: IP belongs to a datacenter.",
        "ip_info.v4.datacenter_result",
    ),
)

_HIGH_RECALL = "supplementary_id_high_recall."
# Where `transforms.dialects.v3_webhook` puts the v3 webhook's own fields in the v3 event it converts to.
_HIGH_RECALL_V3 = "supplementaryIds.highRecall."
_RULE = "rule_action."
# Fields only v4 events (and, for a few, v3 webhooks) carry (API.md 13); NULL in fetched v3 rows.
_V4_ONLY = (
    v4only("source", "string", "source", "where the event comes from: `device` (an SDK) or `edge`."),
    v4only(
        "incremental_identification_status",
        "string",
        "incremental_identification_status",
        "`partially_completed` (Smart Signals not computed yet) or `completed`.",
    ),
    pushed(
        "high_recall_visitor_id",
        "string",
        _HIGH_RECALL_V3 + "visitorId",
        _HIGH_RECALL + "visitor_id",
        "High Recall (supplementary) visitor ID, <= 25 chars.",
    ),
    pushed(
        "high_recall_visitor_found",
        "bool",
        _HIGH_RECALL_V3 + "visitorFound",
        _HIGH_RECALL + "visitor_found",
        "The High Recall visitor had been seen before.",
    ),
    pushed(
        "high_recall_confidence_score",
        "float",
        _HIGH_RECALL_V3 + "confidence.score",
        _HIGH_RECALL + "confidence.score",
        "High Recall confidence (0 when not supported).",
    ),
    pushed(
        "high_recall_confidence_version",
        "string",
        _HIGH_RECALL_V3 + "confidence.revision",
        _HIGH_RECALL + "confidence.version",
        "High Recall confidence model version (`Not Supported`).",
    ),
    pushed(
        "high_recall_confidence_comment",
        "string",
        _HIGH_RECALL_V3 + "confidence.comment",
        _HIGH_RECALL + "confidence.comment",
        "High Recall confidence comment.",
    ),
    pushed(
        "high_recall_first_seen_at",
        "timestamp",
        _HIGH_RECALL_V3 + "firstSeenAt.subscription",
        _HIGH_RECALL + "first_seen_at",
        "High Recall visitor first seen.",
    ),
    pushed(
        "high_recall_last_seen_at",
        "timestamp",
        _HIGH_RECALL_V3 + "lastSeenAt.subscription",
        _HIGH_RECALL + "last_seen_at",
        "High Recall visitor last seen.",
    ),
    v4only("bundle_id", "string", "bundle_id", "iOS app bundle ID."),
    v4only("package_name", "string", "package_name", "Android app package name."),
    pushed(
        "client_referrer",
        "string",
        "clientReferrer",
        "client_referrer",
        'Web: the page\'s referrer (`""` for direct navigation).',
        privacy="url",
    ),
    v4only("browser_os", "string", "browser_details.os", "Web: operating system as browser_details reports it."),
    v4only(
        "browser_os_version", "string", "browser_details.os_version", "Web: OS version as browser_details reports it."
    ),
    v4only("browser_device", "string", "browser_details.device", "Web: device as browser_details reports it."),
    v4only("active_call", "bool", "active_call", "Mobile: a phone call was active during identification."),
    v4only("simulator", "bool", "simulator", "iOS: the app runs in the iOS simulator."),
    v4only("bot_info_category", "string", "bot_info.category", "Bot category (e.g. ai_agent, search_engine_crawler)."),
    v4only("bot_info_provider", "string", "bot_info.provider", "Organisation operating the bot."),
    v4only("bot_info_provider_url", "string", "bot_info.provider_url", "Bot provider's website."),
    v4only("bot_info_name", "string", "bot_info.name", "Bot name (e.g. ChatGPT Agent)."),
    v4only("bot_info_identity", "string", "bot_info.identity", "verified, signed, spoofed or unknown."),
    v4only("bot_info_confidence", "string", "bot_info.confidence", "low, medium or high."),
    v4only("proxy_provider", "string", "proxy_details.provider", "Proxy provider (e.g. Massive)."),
    v4only("rule_action_type", "string", _RULE + "type", "Ruleset action: allow or block (only with `ruleset_id`)."),
    v4only("rule_action_ruleset_id", "string", _RULE + "ruleset_id", "Ruleset that was evaluated."),
    v4only("rule_action_rule_id", "string", _RULE + "rule_id", "Rule that matched."),
    v4only("rule_action_rule_expression", "string", _RULE + "rule_expression", "Expression of the rule that matched."),
    v4only("rule_action_status_code", "int", _RULE + "status_code", "Block: HTTP status to answer."),
    v4only("rule_action_headers", "json", _RULE + "headers", "Block: headers to answer with, as JSON text."),
    v4only("rule_action_body", "string", _RULE + "body", "Block: body to answer with."),
    v4only(
        "rule_action_request_header_modifications",
        "json",
        _RULE + "request_header_modifications",
        "Allow: header changes (remove/set/append), as JSON text.",
    ),
    v4only("triggered_by", "json", "triggered_by", "Webhooks: the rules that triggered the delivery, as JSON text."),
)

EVENTS = Table(
    name="events",
    description="One row per fetched event: identification, botd, every scalar smart signal.",
    keys=(),
    columns=(*_IDENTIFICATION, *_BOTD, *_SMART_SIGNALS, *_IP_V4_SHORTCUTS, *_V4_ONLY),
    anchors={3: (Anchor(""),), 4: (Anchor(""),)},
)

IP_INFO = Table(
    name="ip_info",
    description="One row per event and IP version (v4, v6): address, geolocation, ASN, datacenter.",
    keys=(key("ip_version", "string", "`v4` or `v6`."),),
    columns=(
        col("address", "string", "address", "IP address.", "address", privacy="ip"),
        *_geo("", "geolocation", "IP geolocation", "geolocation"),
        col("asn", "string", "asn.asn", "Autonomous system number (text, e.g. `7922`).", "asn"),
        col("asn_name", "string", "asn.name", "AS name.", "asn_name"),
        col("asn_network", "string", "asn.network", "AS network (CIDR).", "asn_network"),
        col("asn_type", "string", "asn.type", "AS type (isp, hosting, ...).", "asn_type"),
        col("datacenter_result", "bool", "datacenter.result", "The IP belongs to a datacenter.", "datacenter_result"),
        col("datacenter_name", "string", "datacenter.name", "Datacenter name (empty when none).", "datacenter_name"),
    ),
    anchors={
        3: (
            Anchor("products.ipInfo.data.v4", (("ip_version", "v4"),)),
            Anchor("products.ipInfo.data.v6", (("ip_version", "v6"),)),
        ),
        4: (
            Anchor("ip_info.v4", (("ip_version", "v4"),)),
            Anchor("ip_info.v6", (("ip_version", "v6"),)),
        ),
    },
)

IP_SUBDIVISIONS = Table(
    name="ip_subdivisions",
    description="Subdivisions (regions) of every geolocation in an event, in the API's order.",
    keys=(
        key("source", "string", "`ip_info_v4`, `ip_info_v6` or `ip_location` (deprecated identification, v3 only)."),
        key("position", "int", "0-based position in the API's list (country-level first)."),
    ),
    columns=(
        col("iso_code", "string", "isoCode", "Subdivision ISO code (text, may look numeric).", "iso_code"),
        col("name", "string", "name", "Subdivision name.", "name"),
    ),
    anchors={
        3: (
            Anchor("products.ipInfo.data.v4.geolocation.subdivisions[]", (("source", "ip_info_v4"),), "position"),
            Anchor("products.ipInfo.data.v6.geolocation.subdivisions[]", (("source", "ip_info_v6"),), "position"),
            Anchor(ID + "ipLocation.subdivisions[]", (("source", "ip_location"),), "position"),
        ),
        4: (
            Anchor("ip_info.v4.geolocation.subdivisions[]", (("source", "ip_info_v4"),), "position"),
            Anchor("ip_info.v6.geolocation.subdivisions[]", (("source", "ip_info_v6"),), "position"),
        ),
    },
)

# (column value = v4 key, v3 key); v4 keeps the metric names of the `metric` column.
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
VELOCITY_INTERVALS_V4: dict[str, str] = {"5m": "5_minutes", "1h": "1_hour", "24h": "24_hours"}

VELOCITY = Table(
    name="velocity",
    description="Velocity counters in long format; an interval the API did not compute has no row.",
    keys=(
        key("metric", "string", "Metric: " + ", ".join(m for m, _ in VELOCITY_METRICS) + "."),
        key("interval", "string", "Look-back window before the event: `5m`, `1h`, `24h`."),
    ),
    columns=(col("value", "int", "", "Count over the interval.", ""),),
    anchors={
        3: tuple(
            Anchor(f"products.velocity.data.{v3}.intervals.{i}", (("metric", m), ("interval", i)))
            for m, v3 in VELOCITY_METRICS
            for i in VELOCITY_INTERVALS
        ),
        4: tuple(
            Anchor(f"velocity.{m}.{VELOCITY_INTERVALS_V4[i]}", (("metric", m), ("interval", i)))
            for m, _ in VELOCITY_METRICS
            for i in VELOCITY_INTERVALS
        ),
    },
)

SDK_INTEGRATIONS = Table(
    name="sdk_integrations",
    description="Client SDK integrations (e.g. fingerprint-pro-react) reported with an event.",
    keys=(key("position", "int", "0-based position in the API's list."),),
    columns=(
        col("name", "string", "name", "Integration name.", "name"),
        col("version", "string", "version", "Integration version.", "version"),
        col(
            "subintegration_name",
            "string",
            "subintegration.name",
            "Sub-integration name (e.g. preact).",
            "subintegration.name",
        ),
        col(
            "subintegration_version",
            "string",
            "subintegration.version",
            "Sub-integration version.",
            "subintegration.version",
        ),
    ),
    anchors={
        3: (Anchor(ID + "sdk.integrations[]", (), "position"),),
        4: (Anchor("sdk.integrations[]", (), "position"),),
    },
)

RAW_DEVICE_ATTRIBUTES = Table(
    name="raw_device_attributes",
    description="Raw device attributes as key/value rows; values of any shape kept as JSON text.",
    keys=(
        key("source", "string", "`raw_device_attributes` or `components` (identification.components, v3 only)."),
        key("attribute", "string", "Attribute name as the API spells it (open set; v3 camelCase, v4 snake_case)."),
    ),
    columns=(
        # v4 drops the `{value}` wrapper (the attribute itself is the value) and the per-attribute errors
        col("value_json", "json", "value", "The attribute's value as JSON text; null when not collected.", ""),
        col("error_name", "string", "error.name", "Collection error name, if collection failed (v3 only)."),
        col("error_message", "string", "error.message", "Collection error message (v3 only)."),
    ),
    anchors={
        3: (
            Anchor("products.rawDeviceAttributes.data.*", (("source", "raw_device_attributes"),), "attribute"),
            Anchor(ID + "components.*", (("source", "components"),), "attribute"),
        ),
        4: (Anchor("raw_device_attributes.*", (("source", "raw_device_attributes"),), "attribute"),),
    },
)

LABELS = Table(
    name="labels",
    description="Beta: model labels attached to an event.",
    keys=(key("position", "int", "0-based position in the API's list."),),
    columns=(
        col("label", "string", "label", "Label name.", "label"),
        col("prediction", "bool", "prediction", "The model predicts the label.", "prediction"),
        col("ml_score", "float", "mlScore", "Model score 0..1.", "ml_score"),
    ),
    anchors={3: (Anchor("products.labels.data[]", (), "position"),), 4: (Anchor("labels[]", (), "position"),)},
)

PRODUCT_ERRORS = Table(
    name="product_errors",
    description="One row per product that came back as an error instead of data; its columns are NULL (v3 only: "
    "v4 omits a failed signal).",
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
    privacy: str = ""  # `ip` or `url` when FPWH_IP_PRIVACY / FPWH_URL_PRIVACY rewrite the column


def entries() -> Iterator[CatalogEntry]:
    """Every (API version, JSON path) → (table, column) pair, in declaration order."""
    for t in TABLES:
        for version, anchors in sorted(t.anchors.items()):
            for anchor in anchors:
                for c in t.columns:
                    for path in c.paths(version):
                        json_path = _join(anchor.path, path)
                        kind = c.privacy or ""
                        yield CatalogEntry(version, json_path, t.name, c.name, str(c.dtype), c.description, kind)


def to_json() -> bytes:
    return orjson.dumps([e.__dict__ for e in entries()], option=orjson.OPT_INDENT_2)


def to_markdown() -> str:
    lines = ["| api | json_path | table | column | dtype | privacy | description |", "|---|---|---|---|---|---|---|"]
    for e in entries():
        row = f"| v{e.api_version} | `{e.json_path}` | {e.table} | {e.column} | {e.dtype} | {e.privacy} |"
        lines.append(f"{row} {e.description} |")
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
