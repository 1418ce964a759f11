"""Sustained runs: a twin that heats within seconds throttles during the run, and the harness reports when,
by how much the latency grew, and draws the curve (checked in headless Chromium)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.analysis.sustained import throttling_curve
from harness.bench import run_bench
from harness.cli import _sustained
from harness.dashboards.run import render_runs
from harness.devices.sim import SimDevice
from harness.devices.sim.profiles import load_profile
from harness.events import Sample
from harness.store import Store
from harness.suite import parse_suite
from tests.browser import dashboard_page
from tests.suites import infer, toy_suite


def hot_twin(device_id: str) -> SimDevice:
    """The flagship twin left on a hot car dashboard (ambient 42.7 °C) with a twentieth of its heat capacity,
    so it crosses its first throttling threshold (43 °C at the skin) seconds into a run: made up for this
    test, not a phone's data."""
    base = load_profile("android-flagship")
    thermal = dataclasses.replace(base.thermal, heat_capacity_j_per_k=tuple(
        c / 20 for c in base.thermal.heat_capacity_j_per_k))
    return SimDevice(dataclasses.replace(base, thermal=thermal, ambient_c=42.7))


@pytest.fixture(scope="module")
def sustained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sustained")
    suite = parse_suite(toy_suite("sustained", infer("sustained", warmup=2, iterations=10, sustained_s=12,
                                                     threads=2), devices=["sim:android-flagship"], baseline_s=0.5))
    store = Store(root / "store")
    result = run_bench(suite, store, open_device=hot_twin)
    return store, result


def host_ratio(store: Store, run_id: str, job_id: str) -> float:
    """Late over early median latency as measured on this computer: the job's curve without the twin's clock."""
    span, samples = store.measured(run_id, [job_id])[job_id], store.samples(run_id, job_id)
    curve = throttling_curve(span["start_ns"].to_numpy(), span["end_ns"].to_numpy(), span["latency_ms"].to_numpy(),
                             samples[samples["channel"] != "clock"])
    assert curve is not None and curve.basis == "measured"
    return curve.steady_initial_ratio


def test_a_hot_twin_throttles_and_the_row_says_when(sustained_run):
    store, result = sustained_run
    (row,) = result.rows
    assert row["status"] == "ok" and row["sustained_s"] == 12 and row["duration_s"] >= 12
    assert 0 < row["time_to_throttle_s"] < 12
    # the twin's clock drops to 80 % at its first throttling status and 60 % at its second: over the host's own
    # drift between the first 10 % and the last 20 % of the run, the modelled latency grows by 1/0.8 to 1/0.6
    assert 1.2 < row["steady_initial_ratio"] / host_ratio(store, result.run_id, row["job_id"]) < 1.75
    assert row["throttle_basis"].startswith("modelled")
    table = _sustained(result.rows)
    assert table is not None and table.row_count == 1


def test_a_cool_run_never_throttles():
    """Measured latency on a device whose clock holds: no throttle, ratio about 1, basis measured."""
    starts = np.arange(0, 10_000_000_000, 10_000_000)
    latency = np.full(starts.size, 2.0)
    samples = [Sample(int(t), "thermal", "status", 0.0, "level") for t in range(0, 10_000_000_000, 1_000_000_000)]
    curve = throttling_curve(starts, starts + 2_000_000, latency, samples)
    assert curve.time_to_throttle_s is None and curve.steady_initial_ratio == pytest.approx(1.0)
    assert curve.basis == "measured" and np.isnan(curve.energy_per_inference_j).all()


def test_status_alone_marks_the_throttle_where_no_clock_is_sampled():
    starts = np.arange(0, 10_000_000_000, 10_000_000)
    latency = np.where(starts > 6e9, 3.0, 2.0)
    samples = [Sample(int(t), "thermal", "status", 1.0 if t >= 6e9 else 0.0, "level")
               for t in range(0, 10_000_000_000, 500_000_000)]
    curve = throttling_curve(starts, starts + 2_000_000, latency, samples)
    assert curve.time_to_throttle_s == pytest.approx(6.0)
    assert curve.steady_initial_ratio == pytest.approx(1.5)


@pytest.mark.browser
def test_the_dashboard_draws_the_curve_and_marks_the_first_throttle(sustained_run, chromium, tmp_path):
    store, result = sustained_run
    page_path = render_runs(store, [result.run_id], tmp_path / "run.html")
    with dashboard_page(chromium, page_path, tmp_path / "profile") as (page, errors):
        headings = page.eval_on_selector_all("h2", "nodes => nodes.map(n => n.textContent)")
        assert any(h.startswith("Sustained run: toy-cnn/last-layer · sustained") for h in headings)
        annotations = page.eval_on_selector_all(".annotation-text", "nodes => nodes.map(n => n.textContent)")
        assert any(a.startswith("first throttle at ") and a.endswith(" s") for a in annotations), annotations
        traces = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                               ".flatMap(p => p.data.map(t => t.name))")
        assert "latency at the twin's clock (modelled)" in traces and "thermal status" in traces
    assert errors == []
