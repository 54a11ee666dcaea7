"""The static HTML dashboard: `<warehouse>/dashboard/index.html`, drawn from the feed tables as inline SVG.

One self-contained file (no script, no CDN, no server): it opens from disk, offline, in any browser, and can
be mailed or served by any static host. Charts are SVG built here; every mark has a `<title>` tooltip with
its exact value. The page shows the most recent `DAYS_SHOWN` days of the daily feeds and the latest day's
top lists.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from pipelines.storage.atomic import write_atomically
from pipelines.storage.warehouse import connect_read_only

DASHBOARD_DIR = "dashboard"
DAYS_SHOWN = 30
TOP_ROWS = 10
LIST_DAYS, LIST_ROWS = 7, 15
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")
RATE_SERIES = ("bot_rate", "vpn_rate", "proxy_rate", "tor_rate", "incognito_rate", "tampering_rate", "suspicious_rate")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 220, 52, 12, 12, 28

NAME_COLUMNS = frozenset({"account_id", "visitor_id", "countries"})
Format = Callable[[float], str]


def pct(x: float) -> str:
    return f"{x:.1%}"


def num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or x == int(x) else f"{x:.1f}"


def load_feeds(warehouse_dir: Path, days: int = DAYS_SHOWN) -> dict[str, pl.DataFrame]:
    """The feeds the page shows, read through the published warehouse: daily series and the latest top lists."""
    with connect_read_only(warehouse_dir) as con:
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


def write_dashboard(warehouse_dir: Path) -> tuple[Path, dict[str, object]]:
    """Render the page from the published warehouse and replace `<warehouse>/dashboard/index.html` atomically."""
    feeds = load_feeds(warehouse_dir)
    page = render_dashboard(feeds, generated_at=datetime.now(UTC))
    path = Path(warehouse_dir) / DASHBOARD_DIR / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda fh: fh.write(page.encode("utf-8")))
    traffic = feeds.get("traffic")
    days = traffic["day"].to_list() if traffic is not None else []
    return path, {"days_shown": len(days), "latest_day": str(days[-1]) if days else "none"}


# --- the page -----------------------------------------------------------------------------------------------
def render_dashboard(feeds: dict[str, pl.DataFrame], generated_at: datetime) -> str:
    """The whole HTML page for `feeds` (as returned by `load_feeds`); an empty dict renders a 'no data' page."""
    stamp = generated_at.strftime("%Y-%m-%d %H:%M UTC")
    if not feeds or feeds["traffic"].is_empty():
        body = "<p class=empty>No feed data yet: materialize a day of the <code>daily_warehouse</code> job.</p>"
        return _page(f"Generated {stamp}.", body)
    traffic, health = feeds["traffic"], feeds["health"]
    days = [str(d) for d in traffic["day"]]
    latest = traffic.row(-1, named=True)
    sections = [
        _tiles(latest, health.row(-1, named=True) if health.height else {}),
        _card(
            "Requests and unique visitors per day",
            bar_chart(days, {c: _series(traffic, c) for c in ("requests", "unique_visitors")}, num),
        ),
        _card("Risk rates per day (share of fetched events)", line_chart(days, _rates(traffic), pct)),
        _card(
            "Fetch outcomes per day",
            bar_chart(
                [str(d) for d in health["day"]],
                {c: _series(health, c) for c in ("ok", "not_found", "failed")},
                num,
                stacked=True,
            ),
        ),
        _card(
            "Server API latency per request ID (ms)",
            line_chart(
                [str(d) for d in health["day"]],
                {c: _series(health, c) for c in ("latency_p50_ms", "latency_p95_ms")},
                num,
            ),
        ),
        _card(f"Top countries on {latest['day']}", _top(feeds["countries"], "country_code", "country_name")),
        _card(f"Top ASNs on {latest['day']}", _top(feeds["asns"], "asn", "asn_name")),
        _card(
            f"Accounts used from many devices, last {LIST_DAYS} days (account sharing)",
            _table(feeds["accounts"], ["day", "account_id", "unique_visitors", "unique_ips", "countries", "failures"]),
        ),
        _card(
            f"Devices using many accounts, last {LIST_DAYS} days (credential stuffing)",
            _table(feeds["visitors"], ["day", "visitor_id", "unique_accounts", "failures", "bot_detected"]),
        ),
    ]
    summary = f"{len(days)} day(s), {days[0]} to {days[-1]}. Generated {stamp} from the <code>feed_*</code> tables."
    return _page(summary, "\n".join(sections))


def _series(df: pl.DataFrame, column: str) -> list[float | None]:
    return df[column].cast(pl.Float64).to_list()


def _rates(traffic: pl.DataFrame) -> dict[str, list[float | None]]:
    return {c: _series(traffic, c) for c in RATE_SERIES}


def _tiles(traffic: dict, health: dict) -> str:
    tiles = [
        ("Requests", traffic["requests"], num),
        ("Unique visitors", traffic["unique_visitors"], num),
        ("Bot rate", traffic["bot_rate"], pct),
        ("Suspicious rate", traffic["suspicious_rate"], pct),
        ("Fetch ok rate", health.get("ok_rate"), pct),
    ]
    cells = "".join(
        f"<div class=tile><div class=label>{_e(label)}</div>"
        f"<div class=value>{'—' if v is None else _e(fmt(v))}</div></div>"
        for label, v, fmt in tiles
    )
    return f"<section class=tiles aria-label='Latest day {_e(str(traffic['day']))}'>{cells}</section>"


def _card(title: str, content: str) -> str:
    return f"<section class=card><h2>{_e(title)}</h2>{content}</section>"


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f"<span><i style='background:{PALETTE[k % len(PALETTE)]}'></i>{_e(n)}</span>" for k, n in enumerate(names)
    )
    return f"<div class=legend>{items}</div>"


def _page(summary: str, body: str) -> str:
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>Fingerprint events warehouse: dashboard</title><link rel=icon href="data:,">
<style>{CSS}</style></head>
<body><header><h1>Fingerprint events warehouse</h1><p>{summary}</p></header>
<main>{body}</main>
<footer>Static page written by fp-events-warehouse (asset <code>dashboard</code>); the numbers are the
<code>feed_*</code> views of <code>fingerprint.duckdb</code>.</footer></body></html>
"""


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header,footer{padding:12px 24px}header h1{margin:0;font-size:20px}header p,footer{color:#5b6475;margin:4px 0}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:16px;padding:0 24px 16px}
.card{overflow-x:auto}.card,.tiles{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:12px 16px}
.tiles{display:flex;gap:24px;flex-wrap:wrap;grid-column:1/-1}.tile .label{color:#5b6475;font-size:12px}
.tile .value{font-size:24px;font-weight:600}h2{font-size:15px;margin:0 0 8px}
svg{display:block;width:100%;height:auto}svg.hbars{width:100px;height:10px}
svg text{font-size:10px;fill:#5b6475}.grid{stroke:#eceef2}
.legend span{margin-right:12px;font-size:12px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{padding:3px 6px;text-align:right;white-space:nowrap;
border-bottom:1px solid #eceef2}th:first-child,td:first-child{text-align:left}
th.name{text-align:left}td.name{text-align:left;max-width:170px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.hbar{fill:#4269d0}.empty{color:#5b6475}
"""


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


def _top(df: pl.DataFrame, key: str, name: str) -> str:
    """A top list: events as an inline horizontal bar, then the risk rates, one row per country or ASN."""
    if df.is_empty():
        return "<p class=empty>No rows.</p>"
    top = max(df["events"].max() or 1, 1)
    rates = ["bot_rate", "vpn_rate", "proxy_rate", "suspicious_rate"]
    head = "".join(f"<th>{_e(c.removesuffix('_rate'))}</th>" for c in rates)
    rows = []
    for row in df.iter_rows(named=True):
        width = 100 * row["events"] / top
        bar = f"<svg class=hbars viewBox='0 0 100 10'><rect class=hbar width={width:.1f} height=10 /></svg>"
        cells = "".join(f"<td>{'—' if row[c] is None else pct(row[c])}</td>" for c in rates)
        label = f"{row[key]} {row[name] or ''}".strip()
        rows.append(
            f"<tr><td class=name title='{_e(label)}'>{_e(label)}</td><td>{row['events']}</td><td>{bar}</td>{cells}</tr>"
        )
    return f"<table><tr><th>{_e(key)}</th><th>events</th><th></th>{head}</tr>{''.join(rows)}</table>"


def _table(df: pl.DataFrame, columns: list[str]) -> str:
    if df.is_empty():
        return "<p class=empty>Nobody above the thresholds on these days.</p>"
    head = "".join(f"<th class={'name' if c in NAME_COLUMNS else 'v'}>{_e(c)}</th>" for c in columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td class={'name' if c in NAME_COLUMNS else 'v'}>{_e(str(row[c]))}</td>" for c in columns)
        + "</tr>"
        for row in df.iter_rows(named=True)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
