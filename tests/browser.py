"""Open a dashboard in headless Debian Chromium (Playwright drives it), screenshot it, collect console errors."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclasses.dataclass(frozen=True)
class PageCheck:
    console_errors: list[str]
    figure_ids: list[str]  # ids of rendered plotly figures
    screenshot: Path


@contextlib.contextmanager
def dashboard_page(chromium: str, html: Path, user_data_dir: Path) -> Iterator[tuple[Page, list[str]]]:
    """The dashboard open in headless Chromium once a plotly figure is drawn, and its console errors (a list
    that keeps filling while the page is used)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=30_000)
            yield page, errors
        finally:
            context.close()


def open_dashboard(chromium: str, html: Path, screenshot: Path, user_data_dir: Path) -> PageCheck:
    with dashboard_page(chromium, html, user_data_dir) as (page, errors):
        ids = page.eval_on_selector_all(".js-plotly-plot", "nodes => nodes.map(n => n.id)")
        page.screenshot(path=str(screenshot), full_page=True)
    return PageCheck(errors, ids, screenshot)
