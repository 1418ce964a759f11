"""The per-run dashboard renders in a real browser: every figure drawn, no console errors."""

from __future__ import annotations

import pytest

from harness.bench import run_bench
from harness.dashboards.run import render_runs
from harness.store import Store
from harness.suite import parse_suite
from tests.browser import open_dashboard
from tests.test_cli import SMALL_SUITE


@pytest.mark.browser
def test_run_dashboard_in_chromium(tmp_path, chromium, toy_artifact):
    store = Store(tmp_path / "store")
    result = run_bench(parse_suite(SMALL_SUITE), store)
    html = render_runs(store, [result.run_id], tmp_path / "dash.html")
    check = open_dashboard(chromium, html, tmp_path / "dash.png", tmp_path / "profile")
    assert check.console_errors == []
    # latency, loss curves, delta sizes, telemetry timeline, energy-accuracy Pareto
    assert check.figure_ids == ["fig-0", "fig-1", "fig-2", "fig-3", "fig-4"]
    assert check.screenshot.stat().st_size > 20_000
