"""Device profiles: what a visitor's browser or app reports (browser details, SDK, raw device attributes).

A profile is drawn once per visitor and reused for every visit, because the raw attributes are what a real
visitor ID is computed from: a returning visitor must present the same canvas hash, fonts and screen. The
attribute values follow the shapes of real v3 payloads (section 10 of API.md): ints, floats, strings, booleans,
string arrays, arrays of arrays (`languages`), objects with capitalised keys (`canvas`), plugin lists, and the
"not collected" state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any


@dataclass(frozen=True, slots=True)
class RawError:
    """A raw attribute whose collection failed in the browser (`{"error": {"name", "message"}}` in v3)."""

    name: str
    message: str


class _NotCollected:
    """The `{}` state: the attribute does not apply to this browser or was not collected."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_COLLECTED"


NOT_COLLECTED = _NotCollected()
RawState = Any  # a JSON value, a RawError, or NOT_COLLECTED


@dataclass(frozen=True, slots=True)
class Integration:
    name: str
    version: str
    sub_name: str | None = None
    sub_version: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """Everything about the client that stays fixed across one visitor's visits."""

    platform: str  # sdk.platform: js | android | ios
    sdk_version: str
    integrations: tuple[Integration, ...] | None  # None: the `integrations` key is absent
    browser_name: str
    browser_major_version: str
    browser_full_version: str
    os: str
    os_version: str
    device: str
    user_agent: str
    raw_attributes: tuple[tuple[str, RawState], ...]
    is_safari: bool
    is_mobile: bool


@dataclass(frozen=True, slots=True)
class _Kind:
    weight: int
    platform: str
    browser: str
    majors: tuple[int, ...]
    full: str  # format with {m}
    os: str
    os_version: str
    device: str
    ua: str  # format with {m}, {full}
    nav_platform: str
    vendor: str
    engine: str  # blink | gecko | webkit | native


_CHROME_UA = "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{m}.0.0.0 {tail}"
_WIN = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"
_SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"

HUMAN_KINDS: tuple[_Kind, ...] = (
    _Kind(33, "js", "Chrome", (127, 128, 129, 130, 131, 132), "{m}.0.0", "Windows", "10", "Other",
          _CHROME_UA.format(os=_WIN, m="{m}", tail="Safari/537.36"), "Win32", "Google Inc.", "blink"),
    _Kind(8, "js", "Edge", (129, 130, 131), "{m}.0.0", "Windows", "10", "Other",
          _CHROME_UA.format(os=_WIN, m="{m}", tail="Safari/537.36 Edg/{m}.0.0.0"), "Win32", "Google Inc.", "blink"),
    _Kind(5, "js", "Firefox", (128, 131, 132, 133), "{m}.0", "Windows", "10", "Other",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{m}.0) Gecko/20100101 Firefox/{m}.0", "Win32", "", "gecko"),
    _Kind(10, "js", "Chrome", (129, 130, 131), "{m}.0.0", "Mac OS X", "10.15.7", "Other",
          _CHROME_UA.format(os=_MAC, m="{m}", tail="Safari/537.36"), "MacIntel", "Google Inc.", "blink"),
    _Kind(7, "js", "Safari", (17, 18), "{m}.1", "Mac OS X", "10.15.7", "Other",
          _SAFARI_MAC + " Version/{full} Safari/605.1.15", "MacIntel", "Apple Computer, Inc.", "webkit"),
    _Kind(1, "js", "Yandex Browser", (24,), "{m}.1.0", "Mac OS X", "10.15.7", "Other",
          _CHROME_UA.format(os=_MAC, m="120", tail="YaBrowser/{full}.0 Safari/537.36"), "MacIntel", "Google Inc.",
          "blink"),
    _Kind(1, "js", "Opera", (113, 114), "{m}.0.0", "Windows", "10", "Other",
          _CHROME_UA.format(os=_WIN, m="128", tail="Safari/537.36 OPR/{m}.0.0.0"), "Win32", "Google Inc.", "blink"),
    _Kind(2, "js", "Chrome", (130, 131), "{m}.0.0", "Linux", "", "Other",
          _CHROME_UA.format(os="X11; Linux x86_64", m="{m}", tail="Safari/537.36"), "Linux x86_64", "Google Inc.",
          "blink"),
    _Kind(1, "js", "Firefox", (128, 133), "{m}.0", "Ubuntu", "", "Other",
          "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{m}.0) Gecko/20100101 Firefox/{m}.0", "Linux x86_64", "",
          "gecko"),
    _Kind(15, "js", "Chrome Mobile", (130, 131), "{m}.0.0", "Android", "10", "K",
          _CHROME_UA.format(os="Linux; Android 10; K", m="{m}", tail="Mobile Safari/537.36"), "Linux armv81",
          "Google Inc.", "blink"),
    _Kind(3, "js", "Samsung Internet", (26, 27), "{m}.0", "Android", "14", "SM-S918B",
          "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{m}.0 "
          "Chrome/122.0.0.0 Mobile Safari/537.36", "Linux armv81", "Google Inc.", "blink"),
    _Kind(11, "js", "Mobile Safari", (17, 18), "{m}.1", "iOS", "{m}.1", "iPhone",
          _IPHONE + " Version/{full} Mobile/15E148 Safari/604.1", "iPhone", "Apple Computer, Inc.", "webkit"),
    _Kind(2, "js", "Chrome Mobile iOS", (130, 131), "{m}.0.6778", "iOS", "18.1", "iPhone",
          _IPHONE.format(u="18_1") + " CriOS/{full}.73 Mobile/15E148 Safari/604.1", "iPhone", "Apple Computer, Inc.",
          "webkit"),
    _Kind(10, "android", "Android", (13, 14, 15), "{m}", "Android", "{m}", "Pixel 8",
          "Dalvik/2.1.0 (Linux; U; Android {m}; Pixel 8 Build/AP2A.240905.003)", "", "", "native"),
    _Kind(4, "android", "Android", (12, 13, 14), "{m}", "Android", "{m}", "SM-A546B",
          "Dalvik/2.1.0 (Linux; U; Android {m}; SM-A546B Build/UP1A.231005.007)", "", "", "native"),
    _Kind(9, "ios", "CFNetwork", (1568,), "{m}.100.1", "iOS", "18.0", "iPhone",
          "ShopApp/5.12.0 CFNetwork/1568.100.1 Darwin/24.0.0", "", "", "native"),
)  # fmt: skip

BAD_BOT_KINDS: dict[str, _Kind] = {
    "headlessChrome": _Kind(1, "js", "Headless Chrome", (121, 130), "{m}.0.6167", "Linux", "", "Other",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{m}.0.6167.57 "
        "Safari/537.36", "Linux x86_64", "Google Inc.", "blink"),
    "selenium": HUMAN_KINDS[0],
    "puppeteer": HUMAN_KINDS[3],
    "playwright": HUMAN_KINDS[7],
}  # fmt: skip

GOOD_BOT_KINDS: dict[str, _Kind] = {
    "googleBot": _Kind(1, "js", "Googlebot", (2,), "2.1", "Android", "6.0.1", "Spider",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Linux armv81", "Google Inc.", "blink"),
    "bingBot": _Kind(1, "js", "bingbot", (2,), "2.0", "Windows", "10", "Spider",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) "
        "Chrome/116.0.1938.76 Safari/537.36", "Win32", "Google Inc.", "blink"),
    "appleBot": _Kind(1, "js", "Applebot", (0,), "0.1", "Mac OS X", "10.15.7", "Spider",
        _SAFARI_MAC + " Version/17.4 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "MacIntel",
        "Apple Computer, Inc.", "webkit"),
}  # fmt: skip

_SDK_VERSIONS = {"js": ("3.11.10", "3.11.6", "3.10.1", "3.9.9"), "android": ("2.8.1", "2.7.0", "2.6.0")}
_SDK_VERSIONS["ios"] = ("2.9.1", "2.7.0", "2.6.0")
_INTEGRATIONS = (
    Integration("fingerprint-pro-react", "2.6.3"),
    Integration("fingerprint-pro-react", "2.7.0", "preact", "10.21.0"),
    Integration("fingerprint-pro-react", "2.7.0", "nextjs", "14.2.5"),
    Integration("fingerprint-pro-vue-v3", "1.4.0"),
    Integration("fingerprint-pro-angular", "2.0.1"),
    Integration("fingerprint-pro-cloudflare", "1.5.0"),
)
_FONTS = {
    "Win32": ("Agency FB", "Calibri", "Century", "Century Gothic", "Franklin Gothic", "Haettenschweiler",
              "Lucida Bright", "Lucida Sans", "MS Outlook", "MS Reference Specialty", "MS UI Gothic", "MT Extra",
              "Marlett", "Monotype Corsiva", "Pristina", "Segoe UI Light"),
    "MacIntel": ("Arial Unicode MS", "Gill Sans", "Helvetica Neue", "Menlo"),
    "Linux x86_64": ("Arimo", "Liberation Mono", "Ubuntu"),
}  # fmt: skip
_SCREENS = {
    "Win32": ((1920, 1080), (1536, 864), (2560, 1440), (1366, 768)),
    "MacIntel": ((1440, 900), (1512, 982), (1728, 1117), (2560, 1440)),
    "Linux x86_64": ((1920, 1080), (2560, 1440)),
    "Linux armv81": ((412, 915), (393, 873), (360, 800)),
    "iPhone": ((390, 844), (393, 852), (430, 932), (375, 667)),
}
_GPUS = {
    "Win32": ("ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 (0x00002503) Direct3D11 vs_5_0 ps_5_0, D3D11)",
              "ANGLE (Intel, Intel(R) UHD Graphics 620 (0x00005917) Direct3D11 vs_5_0 ps_5_0, D3D11)",
              "ANGLE (AMD, AMD Radeon(TM) Graphics (0x00001638) Direct3D11 vs_5_0 ps_5_0, D3D11)"),
    "MacIntel": ("ANGLE (Apple, ANGLE Metal Renderer: Apple M1, Unspecified Version)",
                 "ANGLE (Apple, ANGLE Metal Renderer: Apple M4, Unspecified Version)",
                 "ANGLE (Intel Inc., Intel(R) Iris(TM) Plus Graphics 655, OpenGL 4.1)"),
    "Linux x86_64": ("ANGLE (Mesa, llvmpipe (LLVM 15.0.7 256 bits), OpenGL 4.5)",),
    "Linux armv81": ("Adreno (TM) 740", "Mali-G715"),
    "iPhone": ("Apple GPU",),
}  # fmt: skip
_PDF_PLUGINS = ("PDF Viewer", "Chrome PDF Viewer", "Chromium PDF Viewer", "Microsoft Edge PDF Viewer",
                "WebKit built-in PDF")  # fmt: skip
_AUDIO = {"blink": (124.04347745512496, 124.04347657808103), "gecko": (35.73832903057337, 35.749968223273754)}
_AUDIO["webkit"] = (35.10893253237009, -1.0)  # Safari suspends the audio context without a gesture: code -1


def _hex(rng: random.Random) -> str:
    return blake2b(rng.getrandbits(64).to_bytes(8, "big"), digest_size=16).hexdigest()


def make_device(rng: random.Random, timezone: str, languages: list[list[str]], kind: _Kind | None = None) -> Device:
    """Draw a device (a weighted human kind unless `kind` is given) localised to `timezone` and `languages`."""
    if kind is None:
        kind = rng.choices(HUMAN_KINDS, weights=[k.weight for k in HUMAN_KINDS])[0]
    m = rng.choice(kind.majors)
    full = kind.full.format(m=m)
    ua = kind.ua.replace("{u}", f"{m}_1").replace("{full}", full).replace("{m}", str(m))
    integrations: tuple[Integration, ...] | None = None
    if kind.platform == "js":
        roll = rng.random()
        if roll < 0.4:
            integrations = (rng.choice(_INTEGRATIONS),)
        elif roll < 0.5:
            integrations = ()
    raw = _raw_attributes(rng, kind, m, timezone, languages)
    return Device(
        platform=kind.platform,
        sdk_version=rng.choice(_SDK_VERSIONS[kind.platform]),
        integrations=integrations,
        browser_name=kind.browser,
        browser_major_version=str(m),
        browser_full_version=full,
        os=kind.os,
        os_version=kind.os_version.format(m=m),
        device=kind.device,
        user_agent=ua,
        raw_attributes=tuple(raw.items()),
        is_safari=kind.engine == "webkit",
        is_mobile=kind.platform != "js" or kind.nav_platform in ("Linux armv81", "iPhone"),
    )


def _raw_attributes(
    rng: random.Random, kind: _Kind, major: int, timezone: str, languages: list[list[str]]
) -> dict[str, RawState]:
    if kind.engine == "native":
        return _native_attributes(rng, kind, timezone, languages)
    plat, engine = kind.nav_platform, kind.engine
    mobile = plat in ("Linux armv81", "iPhone")
    blink, gecko, webkit = engine == "blink", engine == "gecko", engine == "webkit"
    gpu = rng.choice(_GPUS[plat])
    fonts = list(_FONTS.get(plat, ()))
    if len(fonts) > 4:
        fonts = sorted(rng.sample(fonts, rng.randint(len(fonts) - 5, len(fonts))))
    box = {"font": "Times", "width": 1600, "height": 18, "top": 14, "bottom": 32, "left": 8, "right": 1608,
           "x": 8, "y": 14}  # fmt: skip
    if not blink:
        box = {**box, "font": "Times New Roman", "height": 18.5, "bottom": 32.5}
    ref = rng.choice((147.5625, 149.3125, 144.015625))
    return {
        "architecture": 255 if plat == "MacIntel" and rng.random() < 0.6 else 127,
        "audio": rng.choice(_AUDIO[engine]),
        "audioBaseLatency": rng.choice((0.01, 0.005333333333333333)) if blink else -2,
        "canvas": {"Winding": True, "Geometry": "unstable" if webkit else _hex(rng), "Text": _hex(rng)},
        "colorDepth": 30 if plat == "MacIntel" else 24,
        "colorGamut": "p3" if plat in ("MacIntel", "iPhone") else "srgb",
        "contrast": 0 if rng.random() < 0.97 else rng.choice((-1, 1)),
        "cookiesEnabled": rng.random() < 0.995,
        "cpuClass": NOT_COLLECTED,
        "dateTimeLocale": languages[0][0],
        "deviceMemory": rng.choice((4, 8, 8, 8)) if blink else NOT_COLLECTED,
        "domBlockers": rng.choice((["easyList"], ["adGuardBase", "easyList"])) if rng.random() < 0.2 else NOT_COLLECTED,
        "emoji": box,
        "fontPreferences": {
            "default": ref,
            "apple": ref,
            "serif": ref,
            "sans": 144.015625,
            "mono": 133.0625,
            "min": 9.234375,
            "system": rng.choice((146.09375, 147.0)),
        },
        "fonts": fonts,
        "forcedColors": False,
        "hardwareConcurrency": rng.choice((4, 8, 8, 12, 16)) if not webkit else 8,
        "hdr": plat in ("MacIntel", "iPhone") and rng.random() < 0.7,
        "indexedDB": True,
        "invertedColors": False if webkit else NOT_COLLECTED,
        "languages": languages,
        "localStorage": True,
        "math": _hex(rng),
        "mathML": {**box, "font": "STIX Two Math" if webkit else "Latin Modern Math", "width": 219.5},
        "monochrome": 0,
        "openDatabase": webkit and rng.random() < 0.3,
        "osCpu": _WIN if gecko and plat == "Win32" else ("Linux x86_64" if gecko else NOT_COLLECTED),
        "pdfViewerEnabled": not mobile,
        "platform": plat,
        "plugins": [] if mobile or gecko else _plugins(5 if blink else 1),
        "privateClickMeasurement": "0" if webkit else NOT_COLLECTED,
        "reducedMotion": rng.random() < 0.03,
        "screenFrame": [0, 0, rng.choice((0, 40, 48)), 0] if not mobile else [0, 0, 0, 0],
        "screenResolution": list(rng.choice(_SCREENS[plat])),
        "sessionStorage": True,
        "timezone": timezone,
        "touchSupport": {"maxTouchPoints": 5 if mobile else 0, "touchEvent": mobile, "touchStart": mobile},
        "vendor": kind.vendor,
        "vendorFlavors": ["chrome"] if blink and not mobile else [],
        "webGlBasics": {
            "version": "WebGL 1.0 (OpenGL ES 2.0 Chromium)" if blink else "WebGL 1.0",
            "vendor": "WebKit",
            "vendorUnmasked": "Google Inc. (NVIDIA)" if "NVIDIA" in gpu else "Google Inc.",
            "renderer": "WebKit WebGL",
            "rendererUnmasked": gpu,
            "shadingLanguageVersion": "WebGL GLSL ES 1.0 (OpenGL ES GLSL ES 1.0 Chromium)",
        },
        "webGlExtensions": {
            "contextAttributes": _hex(rng),
            "parameters": _hex(rng),
            "shaderPrecisions": _hex(rng),
            "extensions": _hex(rng),
            "extensionParameters": _hex(rng),
            "unsupportedExtensions": [] if rng.random() < 0.9 else ["WEBGL_debug_renderer_info"],
        },
    }


def _native_attributes(
    rng: random.Random, kind: _Kind, timezone: str, languages: list[list[str]]
) -> dict[str, RawState]:
    """Mobile SDKs report a smaller, different set; web-only attributes come back as "not collected"."""
    ios = kind.platform == "ios"
    return {
        "architecture": NOT_COLLECTED,
        "audio": NOT_COLLECTED,
        "canvas": NOT_COLLECTED,
        "dateTimeLocale": languages[0][0],
        "deviceMemory": rng.choice((6, 8, 12)),
        "hardwareConcurrency": 6 if ios else 8,
        "languages": languages,
        "platform": "iOS" if ios else "Android",
        "screenResolution": list(rng.choice(_SCREENS["iPhone" if ios else "Linux armv81"])),
        "timezone": timezone,
        "touchSupport": {"maxTouchPoints": 5, "touchEvent": True, "touchStart": True},
    }


def _plugins(n: int) -> list[dict[str, Any]]:
    mime = [{"type": "application/pdf", "suffixes": "pdf"}, {"type": "text/pdf", "suffixes": "pdf"}]
    return [{"name": name, "description": "Portable Document Format", "mimeTypes": mime} for name in _PDF_PLUGINS[:n]]
