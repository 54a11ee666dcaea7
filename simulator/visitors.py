"""Visitor profiles: the stable traits behind repeat visits (device, home, network, habits, account).

A visitor is derived from a text key alone (`pool:17`, `new:<request id>`, `burst:2026-11-23:2`), so any process
with the same seed rebuilds the same visitor. The returning pool is small and skewed, so a few visitors come back
often while most appear once or twice, as in real traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.devices import BAD_BOT_KINDS, GOOD_BOT_KINDS, Device, make_device
from simulator.geography import (
    COUNTRIES,
    CRAWLER_NETWORKS,
    HOSTING_NETWORKS,
    NETWORKS_BY_COUNTRY,
    PLACES_BY_COUNTRY,
    Network,
    Place,
)
from simulator.ids import Keyed

HUMAN, GOOD_BOT, BAD_BOT = "human", "good_bot", "bad_bot"
SEEN_PERIOD_MS = 180 * 86_400_000  # a returning visitor's "first seen" restarts every 180 days
RARE_BUCKETS = ("<p95", "p95-p99", "p99-p99.5", "p99.5-p99.9", "p99.9+", "not_seen")

_LOCALES = {
    "US": "en-US", "CA": "en-CA", "MX": "es-MX", "BR": "pt-BR", "AR": "es-AR", "GB": "en-GB", "IE": "en-IE",
    "DE": "de-DE", "FR": "fr-FR", "NL": "nl-NL", "ES": "es-ES", "IT": "it-IT", "PL": "pl-PL", "CZ": "cs-CZ",
    "SE": "sv-SE", "UA": "uk-UA", "TR": "tr-TR", "IN": "en-IN", "JP": "ja-JP", "KR": "ko-KR", "SG": "en-SG",
    "ID": "id-ID", "PH": "en-PH", "AE": "ar-AE", "AU": "en-AU", "NG": "en-NG", "ZA": "en-ZA", "EG": "ar-EG",
}  # fmt: skip
_COUNTRY_CODES = tuple(COUNTRIES)
_COUNTRY_WEIGHTS = tuple(w for _, _, w in COUNTRIES.values())


@dataclass(frozen=True, slots=True)
class Visitor:
    key: str
    visitor_id: str
    user_id: str
    role: str  # human | good_bot | bad_bot
    bot_type: str | None
    device: Device
    home: Place
    network: Network
    host: int  # index of the home address inside `network`
    first_seen_phase_ms: int
    vpn_user: bool
    proxy_user: bool
    anti_detect: bool
    privacy_browser: bool
    incognito_rate: float
    rare_bucket: str
    hourly_rate: float  # typical identification calls per hour while active


def _languages(rng: random.Random, cc: str) -> list[list[str]]:
    locale = _LOCALES[cc]
    if rng.random() < 0.7 or locale == "en-US":
        return [[locale]]
    return [[locale], [locale, locale[:2], "en-US", "en"]]


def make_visitor(keyed: Keyed, key: str, role: str = HUMAN, bot_type: str | None = None) -> Visitor:
    """The visitor for `key`; `role`/`bot_type` force a bot (planted bursts), otherwise drawn from the key."""
    rng = keyed.rng(f"visitor:{key}")
    if role == HUMAN and bot_type is None:
        roll = rng.random()
        if roll < 0.012:
            role, bot_type = GOOD_BOT, rng.choice(tuple(GOOD_BOT_KINDS))
        elif roll < 0.03:
            role, bot_type = BAD_BOT, rng.choice(tuple(BAD_BOT_KINDS))
    cc = rng.choices(_COUNTRY_CODES, weights=_COUNTRY_WEIGHTS)[0]
    home = rng.choice(PLACES_BY_COUNTRY[cc])
    languages = _languages(rng, cc)
    kind = None
    if role == GOOD_BOT:
        kind, network = GOOD_BOT_KINDS[bot_type or "googleBot"], CRAWLER_NETWORKS[bot_type or "googleBot"]
        home = PLACES_BY_COUNTRY["US"][0]
    elif role == BAD_BOT:
        kind, network = BAD_BOT_KINDS[bot_type or "headlessChrome"], rng.choice(HOSTING_NETWORKS)
    else:
        network = rng.choice(NETWORKS_BY_COUNTRY[cc])
    device = make_device(rng, home.timezone, languages, kind)
    user_n = keyed.int64(f"user:{key}")
    return Visitor(
        key=key,
        visitor_id=keyed.token(f"vid:{key}", 20),
        user_id=f"u{user_n % 900_000 + 100_000}" if key.startswith("new:") else f"u{user_n % 4_000 + 1}",
        role=role,
        bot_type=bot_type,
        device=device,
        home=home,
        network=network,
        host=rng.getrandbits(24),
        first_seen_phase_ms=rng.randrange(SEEN_PERIOD_MS),
        vpn_user=role == HUMAN and rng.random() < 0.06,
        proxy_user=role == HUMAN and rng.random() < 0.02,
        anti_detect=role == HUMAN and device.platform == "js" and rng.random() < 0.008,
        privacy_browser=device.platform == "js" and rng.random() < 0.03,
        incognito_rate=0.0 if device.platform != "js" else rng.choice((0.0, 0.0, 0.05, 0.3)),
        rare_bucket=rng.choices(RARE_BUCKETS, weights=(80, 12, 3, 2, 1, 2))[0],
        hourly_rate={HUMAN: rng.uniform(0.5, 4), GOOD_BOT: rng.uniform(50, 400), BAD_BOT: rng.uniform(20, 2000)}[role],
    )
