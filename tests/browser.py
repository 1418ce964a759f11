"""Open a dashboard in headless Debian Chromium (Playwright drives it), screenshot it, collect console errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclasses.dataclass(frozen=True)
class PageCheck:
    console_errors: list[str]
    figure_ids: list[str]  # ids of rendered plotly figures
    screenshot: Path


def open_dashboard(chromium: str, html: Path, screenshot: Path, user_data_dir: Path) -> PageCheck:
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
            ids = page.eval_on_selector_all(".js-plotly-plot", "nodes => nodes.map(n => n.id)")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return PageCheck(errors, ids, screenshot)
