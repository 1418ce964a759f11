"""Compare, history and telemetry/energy dashboards render in headless Chromium with every figure."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.cli import main
from harness.store import Store
from tests.browser import open_dashboard
from tests.synthetic_runs import write_run


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    store = Store(root)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(6):
        write_run(store, seed=i, n=40, repetitions=2, created=start + dt.timedelta(hours=i),
                  slowdown={"toy-cnn-wide/last-layer": 1.1} if i >= 4 else None)
    out = root / "dash"
    assert main(["dashboards", "-o", str(out), "--results", str(root)]) == 0
    return out


@pytest.mark.browser
@pytest.mark.parametrize("page,figures", [("run.html", ["fig-0", "fig-1", "fig-2", "fig-3", "fig-4"]), ("compare.html", ["fig-0"]),
                                          ("history.html", ["fig-0", "fig-1"])])
def test_dashboard_in_chromium(pages, page, figures, chromium, tmp_path):
    check = open_dashboard(chromium, pages / page, tmp_path / f"{page}.png", tmp_path / "profile")
    assert check.console_errors == []
    assert check.figure_ids == figures
    assert check.screenshot.stat().st_size > 20_000


def test_energy_page_names_modelled_sources_and_shades_jobs(pages):
    text = (pages / "run.html").read_text()
    assert "model:pixel7\\u002fpower (modelled)" in text  # plotly JSON escapes "/"
    assert "j0000" in text  # a job span label
    assert "<table class='kpis'>" in text and "power while personalizing" in text  # KPI cards, not a JSON dump
    assert "modelled (model:pixel7)" in text
