"""Per-run KPIs on hand-built tables with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis.kpis import foreground_latency, run_kpis, thermal_fractions


def samples(rows):
    return pd.DataFrame(rows, columns=["t_ns", "source", "channel", "value", "unit"])


def test_thermal_fractions_are_time_weighted():
    s = samples([(0, "thermal", "status", 0, "level"), (6, "thermal", "status", 2, "level"),
                 (8, "thermal", "status", 0, "level"), (10, "thermal", "status", 0, "level")])
    assert thermal_fractions(s) == {0: pytest.approx(0.8), 2: pytest.approx(0.2)}


def test_foreground_latency_only_counts_overlapping_invokes():
    ev = pd.DataFrame([
        {"event": "train_step", "warmup": False, "start_ns": 100, "end_ns": 200, "latency_ms": 9.0},
        {"event": "invoke", "warmup": False, "start_ns": 50, "end_ns": 90, "latency_ms": 1.0},
        {"event": "invoke", "warmup": False, "start_ns": 150, "end_ns": 160, "latency_ms": 3.0},
        {"event": "invoke", "warmup": False, "start_ns": 190, "end_ns": 260, "latency_ms": 4.0},
        {"event": "invoke", "warmup": False, "start_ns": 300, "end_ns": 310, "latency_ms": 1.0},
    ])
    assert sorted(foreground_latency(ev)) == [3.0, 4.0]


def test_run_kpis_drain_latency_delta_and_reasons():
    results = pd.DataFrame([
        {"status": "ok", "signature": "train", "variant": "m/a", "workload": "personalize", "p50_ms": 5.0,
         "p90_ms": 6.0, "p99_ms": 7.0, "delta_bytes": 4096, "energy_status": "ok", "energy_gross_j": 30.0,
         "energy_duration_s": 10.0, "energy_baseline_w": 1.0, "energy_joules": 20.0, "accuracy_gain": 0.04,
         "first_start_ns": 0, "last_end_ns": 10},
        {"status": "ok", "signature": "infer", "variant": "m/a", "workload": "infer", "p50_ms": 1.0,
         "p90_ms": 1.5, "p99_ms": 2.0, "delta_bytes": None, "energy_status": "unresolvable"},
    ])
    s = samples([(0, "battery", "level", 80, "%"), (10, "battery", "level", 79, "%"),
                 (0, "thermal", "status", 1, "level"), (10, "thermal", "status", 1, "level")])
    events = pd.DataFrame(columns=["event", "warmup", "start_ns", "end_ns", "latency_ms"])
    k = run_kpis(results, events, s)
    assert k.personalization_power_w == pytest.approx(3.0)
    assert k.personalization_drain_ratio == pytest.approx(3.0)
    assert k.battery_level_delta_pct == pytest.approx(-1.0)
    assert k.accuracy_gain_per_j == {"m/a": pytest.approx(0.002)}
    assert k.latency_ms["m/a · infer"]["p99"] == 2.0
    assert k.delta_bytes == {"m/a": 4096}
    assert k.throttled is True and k.max_thermal_status == 1
    assert k.foreground_p50_ms is None
    assert any("foreground" in n for n in k.notes)
