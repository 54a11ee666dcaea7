"""The static dashboard, opened in a real headless Chromium: it loads cleanly and its charts are drawn.

Chromium comes from the OS packages (`./fpwh test` installs Debian's `chromium` when it can; the test skips
outside CI when it is missing). The screenshot of the run is kept beside the page, as
`<warehouse>/dashboard/screenshot.png`, for a human to look at.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.dashboard import render_dashboard

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(chromium: Path) -> Iterator[tuple[object, list[str]]]:
    """A fresh Chromium page (new empty profile) and the console errors and page errors it reports."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the `playwright` Python package is missing: run `uv sync` (it is a dev dependency)")
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), args=CHROMIUM_FLAGS, viewport={"width": 1300, "height": 900}
        )
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page, errors
        context.close()


@pytest.mark.slow
def test_the_dashboard_loads_without_console_errors_and_draws_its_charts(planted, browser_page):
    page, errors = browser_page
    html = planted.warehouse / "dashboard" / "index.html"
    assert html.is_file(), "the daily job's `dashboard` asset writes the page"
    assert "http" not in html.read_text() and "<script" not in html.read_text()  # offline: no CDN, no script
    page.goto(html.as_uri())
    page.wait_for_load_state("load")

    assert errors == []
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart rect.bar").count() > 0
    assert page.locator("svg.chart path.line").count() >= 7  # one per risk rate, plus latency
    assert page.locator("svg.hbars rect.hbar").count() > 0
    text = page.inner_text("main")
    assert "u-sharer" in text and "Devices using many accounts" in text
    box = page.locator("svg.chart").first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100  # drawn at a readable size, not collapsed
    screenshot = planted.warehouse / "dashboard" / "screenshot.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"dashboard screenshot: {screenshot}")


def test_a_warehouse_without_feeds_renders_a_page_that_says_so():
    page = render_dashboard({}, generated_at=datetime(2026, 11, 25, tzinfo=UTC))
    assert "No feed data yet" in page and "<svg" not in page
