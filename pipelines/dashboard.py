"""The static HTML dashboard: `<warehouse>/dashboard/index.html`, drawn from the feed tables as inline SVG.

One self-contained file (no script, no CDN, no server): it opens from disk, offline, in any browser, and can
be mailed or served by any static host. The page is the Jinja2 template `templates/dashboard.html.j2`; the charts
are SVG built here, every mark with a `<title>` tooltip holding its exact value. The page shows the most recent
`DAYS_SHOWN` days of the daily feeds and the latest day's top lists.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import polars as pl
from markupsafe import Markup

from pipelines.storage.warehouse import Warehouse

DASHBOARD_PAGE = "dashboard/index.html"
DAYS_SHOWN = 30
TOP_ROWS = 10
LIST_DAYS, LIST_ROWS = 7, 15
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")
RATE_SERIES = ("bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "incognito_rate", "tampering_rate", "suspicious_rate")
TOP_RATES = ("bot_rate", "vpn_rate", "proxy_rate", "suspicious_rate")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 220, 52, 12, 12, 28

NAME_COLUMNS = frozenset({"account_id", "visitor_id", "countries"})
Format = Callable[[float], str]
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def pct(x: float) -> str:
    return f"{x:.1%}"


def num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or x == int(x) else f"{x:.1f}"


def load_feeds(con: duckdb.DuckDBPyConnection, days: int = DAYS_SHOWN) -> dict[str, pl.DataFrame]:
    """The feeds the page shows, read through a warehouse reader: daily series and the latest top lists."""
    latest = con.execute("SELECT max(day) FROM feed_daily_traffic").fetchall()[0][0]
    if latest is None:
        return {}
    since = [date.fromordinal(latest.toordinal() - days + 1)]
    top = [latest, TOP_ROWS]
    recent = [date.fromordinal(latest.toordinal() - LIST_DAYS + 1), LIST_ROWS]
    return {
        "traffic": con.sql("SELECT * FROM feed_daily_traffic WHERE day >= ? ORDER BY day", params=since).pl(),
        "health": con.sql("SELECT * FROM feed_fetch_health WHERE day >= ? ORDER BY day", params=since).pl(),
        "countries": con.sql("FROM feed_country_risk WHERE day = ? AND rank <= ? ORDER BY rank", params=top).pl(),
        "asns": con.sql("FROM feed_asn_risk WHERE day = ? AND rank <= ? ORDER BY rank", params=top).pl(),
        "accounts": con.sql(
            "FROM feed_accounts_many_devices WHERE day >= ? ORDER BY day DESC, rank LIMIT ?", params=recent
        ).pl(),
        "visitors": con.sql(
            "FROM feed_visitors_many_accounts WHERE day >= ? ORDER BY day DESC, rank LIMIT ?", params=recent
        ).pl(),
    }


def write_dashboard(warehouse: Warehouse) -> tuple[str, dict[str, object]]:
    """Render the page from the published warehouse and replace `dashboard/index.html` in it, atomically."""
    with warehouse.reader() as con:
        feeds = load_feeds(con)
    page = render_dashboard(feeds, generated_at=datetime.now(UTC))
    path = warehouse.files.write(DASHBOARD_PAGE, lambda fh: fh.write(page.encode("utf-8")))
    traffic = feeds.get("traffic")
    days = traffic["day"].to_list() if traffic is not None else []
    return path, {"days_shown": len(days), "latest_day": str(days[-1]) if days else "none"}


# --- the page -----------------------------------------------------------------------------------------------
def render_dashboard(feeds: dict[str, pl.DataFrame], generated_at: datetime) -> str:
    """The whole HTML page for `feeds` (as returned by `load_feeds`); an empty dict renders a 'no data' page."""
    context: dict[str, Any] = {"stamp": generated_at.strftime("%Y-%m-%d %H:%M UTC"), "latest": None}
    if feeds and not feeds["traffic"].is_empty():
        context |= _context(feeds)
    return _TEMPLATES.get_template("dashboard.html.j2").render(context)


def _context(feeds: dict[str, pl.DataFrame]) -> dict[str, Any]:
    traffic, health = feeds["traffic"], feeds["health"]
    days = [str(d) for d in traffic["day"]]
    health_days = [str(d) for d in health["day"]]
    latest = traffic.row(-1, named=True)
    latest_health = health.row(-1, named=True) if health.height else {}
    tiles = [
        ("Requests", "requests", latest["requests"], num),
        ("Unique visitors", "unique_visitors", latest["unique_visitors"], num),
        ("Bot rate", "bot_rate", latest["bot_rate"], pct),
        ("Suspicious rate", "suspicious_rate", latest["suspicious_rate"], pct),
        ("Fetch ok rate", "ok_rate", latest_health.get("ok_rate"), pct),
    ]
    charts = [
        ("Requests and unique visitors per day", bar_chart(days, _pick(traffic, "requests", "unique_visitors"), num)),
        ("Risk rates per day (share of fetched events)", line_chart(days, _pick(traffic, *RATE_SERIES), pct)),
        ("Fetch outcomes per day", bar_chart(health_days, _pick(health, "ok", "not_found", "failed"), num, True)),
        (
            "Server API latency per request ID (ms)",
            line_chart(health_days, _pick(health, "latency_p50_ms", "latency_p95_ms"), num),
        ),
    ]
    day = latest["day"]
    return {
        "latest": latest,
        "days": days,
        "tiles": [{"label": label, "metric": m, "value": "—" if v is None else f(v)} for label, m, v, f in tiles],
        "charts": [{"title": title, "svg": Markup(svg)} for title, svg in charts],
        "tops": [
            _top(f"Top countries on {day}", feeds["countries"], "country_code", "country_name"),
            _top(f"Top ASNs on {day}", feeds["asns"], "asn", "asn_name"),
        ],
        "lists": [
            _list(
                f"Accounts used from many devices, last {LIST_DAYS} days (account sharing)",
                feeds["accounts"],
                ["day", "account_id", "unique_visitors", "unique_ips", "countries", "failures"],
            ),
            _list(
                f"Devices using many accounts, last {LIST_DAYS} days (credential stuffing)",
                feeds["visitors"],
                ["day", "visitor_id", "unique_accounts", "failures", "bot_detected"],
            ),
        ],
        "names": NAME_COLUMNS,
    }


def _pick(df: pl.DataFrame, *columns: str) -> dict[str, list[float | None]]:
    return {c: df[c].cast(pl.Float64).to_list() for c in columns}


def _top(title: str, df: pl.DataFrame, key: str, name: str) -> dict[str, Any]:
    """A top list: events as an inline horizontal bar, then the risk rates, one row per country or ASN."""
    most = max(df["events"].max() or 1, 1) if df.height else 1
    rows = [
        {
            "label": f"{row[key]} {row[name] or ''}".strip(),
            "events": row["events"],
            "width": f"{100 * row['events'] / most:.1f}",
            "rates": ["—" if row[c] is None else pct(row[c]) for c in TOP_RATES],
        }
        for row in df.iter_rows(named=True)
    ]
    return {"title": title, "key": key, "rates": TOP_RATES, "rows": rows}


def _list(title: str, df: pl.DataFrame, columns: list[str]) -> dict[str, Any]:
    rows = [{c: str(row[c]) for c in columns} for row in df.iter_rows(named=True)]
    return {"title": title, "columns": columns, "rows": rows}


# --- charts -------------------------------------------------------------------------------------------------
def _scale(values: list[float | None]) -> float:
    """A round axis maximum at or above every value, so that its four tick steps are round numbers too."""
    top = max((v for v in values if v is not None), default=0.0)
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 4, 6, 8, 10) if m * power >= top)


def _axes(labels: Sequence[str], y_max: float, fmt: Format) -> list[str]:
    parts = []
    for k in range(5):
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - k / 4)
        parts.append(f"<line class=grid x1={PAD_L} x2={W - PAD_R} y1={y:.1f} y2={y:.1f} />")
        parts.append(f"<text x={PAD_L - 4} y={y + 3:.1f} text-anchor=end>{_e(fmt(y_max * k / 4))}</text>")
    step = max(1, len(labels) // 8)
    for k, label in enumerate(labels):
        if k % step == 0 or k == len(labels) - 1:
            x = _x(k, len(labels))
            parts.append(f"<text x={x:.1f} y={H - 8} text-anchor=middle>{_e(label[5:])}</text>")
    return parts


def _x(k: int, n: int) -> float:
    return PAD_L + (W - PAD_L - PAD_R) * (k + 0.5) / n


def _y(v: float, y_max: float) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (1 - v / y_max)


def _svg(parts: list[str], label: str) -> str:
    return f"<svg class=chart viewBox='0 0 {W} {H}' role=img aria-label='{_e(label)}'>{''.join(parts)}</svg>"


def bar_chart(labels: Sequence[str], series: dict[str, list[float | None]], fmt: Format, stacked: bool = False) -> str:
    """Bars per label (day): side by side, or stacked; `rect.bar` elements with a `<title>` each."""
    totals = [sum(v or 0 for v in col) for col in zip(*series.values(), strict=True)] if stacked else []
    y_max = _scale(totals if stacked else [v for vs in series.values() for v in vs])
    parts = _axes(labels, y_max, fmt)
    slot = (W - PAD_L - PAD_R) / max(1, len(labels)) * 0.8
    width = slot if stacked else slot / len(series)
    for k, label in enumerate(labels):
        base = 0.0
        for s, (name, values) in enumerate(series.items()):
            v = values[k] or 0.0
            x = _x(k, len(labels)) - slot / 2 + (0 if stacked else s * width)
            bottom = base if stacked else 0.0
            top = bottom + v
            base = top if stacked else 0.0
            y0, y1 = _y(top, y_max), _y(bottom, y_max)
            parts.append(
                f"<rect class=bar x={x:.1f} y={y0:.1f} width={max(width - 1, 1):.1f} height={max(y1 - y0, 0):.1f} "
                f"fill='{PALETTE[s % len(PALETTE)]}'><title>{_e(f'{label} {name}: {fmt(v)}')}</title></rect>"
            )
    return _svg(parts, ", ".join(series)) + _legend(list(series))


def line_chart(labels: Sequence[str], series: dict[str, list[float | None]], fmt: Format) -> str:
    """One `path.line` per series (gaps where a value is NULL) with a dot and a `<title>` per point."""
    y_max = _scale([v for vs in series.values() for v in vs])
    parts = _axes(labels, y_max, fmt)
    for s, (name, values) in enumerate(series.items()):
        color = PALETTE[s % len(PALETTE)]
        points = [(k, v) for k, v in enumerate(values) if v is not None]
        d = " ".join(
            f"{'M' if j == 0 else 'L'}{_x(k, len(labels)):.1f},{_y(v, y_max):.1f}" for j, (k, v) in enumerate(points)
        )
        if d:
            parts.append(f"<path class=line d='{d}' fill=none stroke='{color}' stroke-width=2 />")
        for k, v in points:
            parts.append(
                f"<circle cx={_x(k, len(labels)):.1f} cy={_y(v, y_max):.1f} r=3 fill='{color}'>"
                f"<title>{_e(f'{labels[k]} {name}: {fmt(v)}')}</title></circle>"
            )
    return _svg(parts, ", ".join(series)) + _legend(list(series))


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f"<span><i style='background:{PALETTE[k % len(PALETTE)]}'></i>{_e(n)}</span>" for k, n in enumerate(names)
    )
    return f"<div class=legend>{items}</div>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
