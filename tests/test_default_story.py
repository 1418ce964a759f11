"""What a default run shows: energy per inference and update with its source (modelled labelled), × the
physical floor, gain per joule; TensorFlow's C++ log lines kept out of the terminal."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from harness.cli import _energy_tables, _native_logs_aside


def _row(device, workload, signature, source, status, **kw):
    base = dict(variant="m/a", workload=workload, signature=signature, device_id=device, status="ok",
                energy_source=source, energy_status=status, energy_reason="" if status == "ok" else "no RAPL",
                energy_joules=None, energy_per_item_j=None, accuracy_gain=None)
    return {**base, **kw}


def test_energy_tables_label_modelled_figures_and_show_the_floor():
    rows = [
        _row("sim:p", "infer", "infer", "model:p", "ok", energy_per_item_j=46e-6, energy_joules=1.0),
        _row("sim:p", "update", "train", "model:p", "ok", energy_joules=0.05, accuracy_gain=0.02),
        _row("host", "infer", "infer", "rapl", "unavailable"),
    ]
    parts = _energy_tables(rows, {"m/a": {"macs_per_inference": 1_000_000, "quantization": "float32"}})
    console = Console(width=100, record=True)
    for part in parts:
        console.print(part)
    text = console.export_text()
    assert "Energy and accuracy on sim:p (modelled: model:p)" in text
    assert "46 µJ/inf" in text and "10×" in text  # 46 µJ over 1 M MACs × 4.6 pJ
    assert "50 mJ/update" in text and "+40 pts/J" in text
    assert "host: no energy figure (rapl: unavailable: no RAPL)" in text


def test_native_log_lines_stay_out_of_the_terminal(capfd):
    with _native_logs_aside(verbose=False) as console:
        os.write(2, b"I0000 00:00:1 dump_mlir_util.cc:269] disabling MLIR crash reproducer\n")
        console.print("progress shown")
    captured = capfd.readouterr()
    assert "dump_mlir_util" not in captured.err and "progress shown" in captured.err
    with _native_logs_aside(verbose=True):
        os.write(2, b"I0000 verbose line\n")
    assert "verbose line" in capfd.readouterr().err


TWIN_SUITE = """
name = "twin-story"
devices = ["sim:android-low"]
repetitions = 1
baseline_s = 0.3
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "infer"
signature = "infer"
warmup = 2
iterations = 20
min_duration_s = 0.5
[[workloads]]
name = "personalize"
signature = "train"
steps = 300
batch_size = 16
"""


@pytest.mark.browser
def test_a_twin_run_fills_every_figure(tmp_path, toy_artifact, chromium):
    from harness.bench import run_bench
    from harness.dashboards.run import render_runs
    from harness.store import Store
    from harness.suite import parse_suite
    from tests.browser import open_dashboard

    store = Store(tmp_path / "store")
    result = run_bench(parse_suite(TWIN_SUITE), store)
    page = render_runs(store, [result.run_id], tmp_path / "run.html")
    text = page.read_text()
    assert "model:android-low\\u002fpower (modelled)" in text  # the timeline labels the twin modelled
    assert "(modelled)" in text and "no telemetry sampled" not in text
    assert "no training job with resolved energy" not in text  # the Pareto has its point
    assert "modelled (model:android-low)" in text  # KPI cards say where their figures come from
    check = open_dashboard(chromium, page, tmp_path / "run.png", tmp_path / "profile")
    assert check.console_errors == []
    assert check.figure_ids == ["fig-0", "fig-1", "fig-2", "fig-3", "fig-4"]
