"""Energy integration against synthetic traces with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import energy as en
from harness.events import EnergySource, Sample

S = 1_000_000_000  # ns per second


def power_trace(fn, t_end_s=10.0, rate_hz=10.0, source="model:pixel7", channel="power"):
    ts = np.arange(0, round(t_end_s * rate_hz) + 1) / rate_hz
    return [Sample(round(t * S), source, channel, float(fn(t)), "W") for t in ts]


def counter_trace(energy_fn, t_end_s=10.0, rate_hz=10.0, source="odpm", channel="S4M_VDD_CPUCL0", wrap=None):
    ts = np.arange(0, round(t_end_s * rate_hz) + 1) / rate_hz
    out = []
    for t in ts:
        value = float(energy_fn(t))
        out.append(Sample(round(t * S), source, channel, value % wrap if wrap else value, "J"))
    return out


def fuel_gauge(current_fn, volts=4.0, t_end_s=10.0, rate_hz=10.0, charging=0):
    ts = np.arange(0, round(t_end_s * rate_hz) + 1) / rate_hz
    out = []
    for t in ts:
        out += [Sample(round(t * S), "fuel_gauge", "current", float(current_fn(t)), "A"),
                Sample(round(t * S), "fuel_gauge", "voltage", volts, "V"),
                Sample(round(t * S), "battery", "charging", float(charging), "bool")]
    return out


def test_constant_power_is_exact():
    est = en.estimate_energy(power_trace(lambda t: 2.5), 0, 10 * S, "model:pixel7")
    assert est.status == en.OK
    assert est.joules == pytest.approx(25.0, abs=1e-12)
    assert est.u_sampling_j == 0.0
    assert est.kind == "modelled"
    assert est.rate_hz == pytest.approx(10.0)


def test_ramp_power_is_exact_even_between_samples():
    # P = 1 + 0.5 t; window [1.25, 7.75] s falls between samples; integral known in closed form.
    est = en.estimate_energy(power_trace(lambda t: 1 + 0.5 * t), int(1.25 * S), int(7.75 * S), "model:pixel7")
    t0, t1 = 1.25, 7.75
    exact = (t1 - t0) + 0.25 * (t1**2 - t0**2)
    assert est.joules == pytest.approx(exact, rel=1e-12)
    assert est.kind == "modelled"


def test_step_power_truth_within_sampling_bound():
    # 1 W until 5.05 s, then 3 W: the step falls inside one 100 ms interval.
    trace = power_trace(lambda t: 1.0 if t < 5.05 else 3.0)
    est = en.estimate_energy(trace, 0, 10 * S, "model:pixel7")
    truth = 5.05 * 1.0 + 4.95 * 3.0
    # trapezoid: 5.0 s at 1 W, one 0.1 s interval at 2 W average, 4.9 s at 3 W
    assert est.joules == pytest.approx(5.0 + 0.2 + 14.7, rel=1e-12)
    assert est.u_sampling_j == pytest.approx(0.1 * 2 / 2)
    assert abs(est.joules - truth) <= est.uncertainty_j


def test_step_power_from_counter_is_exact():
    # Cumulative counters see a step exactly wherever it falls, when the window edges sit on samples.
    energy = lambda t: t if t < 5.05 else 5.05 + 3 * (t - 5.05)  # noqa: E731
    est = en.estimate_energy(counter_trace(energy), 2 * S, 8 * S, "odpm")
    assert est.joules == pytest.approx(energy(8) - energy(2), rel=1e-12)
    assert est.u_sampling_j == 0.0
    assert est.u_resolution_j == pytest.approx(1e-6)  # default ODPM quantum, one per rail
    assert est.kind == "measured"


def test_counter_wrap_is_unwrapped_exactly():
    wrap = 7.0  # J: the counter wraps once every ~2.3 s at 3 W
    trace = counter_trace(lambda t: 100 + 3 * t, wrap=wrap, source="rapl", channel="package-0")
    est = en.estimate_energy(trace, 0, 10 * S, "rapl", wrap_j=wrap)
    assert est.joules == pytest.approx(30.0, rel=1e-9)


def test_job_energy_takes_the_wrap_point_from_the_source(tmp_path):
    trace = counter_trace(lambda t: 100 + 3 * t, wrap=7.0, source="rapl", channel="package-0")
    events = [{"event": "invoke", "warmup": False, "start_ns": 0, "end_ns": 10 * S, "latency_ms": 1e4}]
    known = EnergySource("rapl", available=True, resolution="1 uJ", counter_wrap=7.0)
    est, count = en.job_energy([known], [], trace, events)
    assert (est.status, count) == ("ok", 1) and est.joules == pytest.approx(30.0, rel=1e-9)
    unknown = EnergySource("rapl", available=True, resolution="1 uJ")
    assert en.job_energy([unknown], [], trace, events)[0].status == en.INVALID
    # the host reads the wrap point from sysfs
    for name in ("intel-rapl:0", "intel-rapl:1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "energy_uj").write_text("1\n")
        (tmp_path / name / "max_energy_range_uj").write_text("262143328850\n")
    from harness.devices.host import _rapl_domains, _rapl_wrap_j

    assert _rapl_wrap_j(_rapl_domains(tmp_path)[0]) == pytest.approx(262143.32885)
    (tmp_path / "intel-rapl:1" / "max_energy_range_uj").write_text("65532610987\n")
    assert _rapl_wrap_j(_rapl_domains(tmp_path)[0]) is None


def test_counter_wrap_without_range_is_invalid_not_wrong():
    trace = counter_trace(lambda t: 100 + 3 * t, wrap=7.0, source="rapl", channel="package-0")
    est = en.estimate_energy(trace, 0, 10 * S, "rapl")
    assert est.status == en.INVALID
    assert est.joules is None
    assert "wrap" in est.reason


def test_rapl_does_not_double_count_nested_domains():
    trace = (counter_trace(lambda t: 4 * t, source="rapl", channel="package-0")
             + counter_trace(lambda t: 3 * t, source="rapl", channel="core")
             + counter_trace(lambda t: 1 * t, source="rapl", channel="dram"))
    est = en.estimate_energy(trace, 0, 10 * S, "rapl")
    assert est.joules == pytest.approx(50.0)
    assert est.channels == ("dram", "package-0")


def test_odpm_rails_are_summed_and_baseline_subtracted():
    trace = counter_trace(lambda t: 2 * t, channel="cpu") + counter_trace(lambda t: 0.5 * t, channel="gpu")
    idle = counter_trace(lambda t: 0.5 * t + 0.01 * (t * 10 % 2), channel="cpu")
    baseline = en.measure_baseline(idle, "odpm")
    assert baseline.power_w == pytest.approx(0.5, rel=1e-9)
    assert baseline.se_w > 0
    est = en.estimate_energy(trace, 0, 10 * S, "odpm", baseline=baseline)
    assert est.gross_j == pytest.approx(25.0)
    assert est.joules == pytest.approx(25.0 - 5.0)
    assert est.u_baseline_j == pytest.approx(baseline.se_w * 10)
    assert est.uncertainty_j >= est.u_baseline_j


def test_fuel_gauge_power_is_volts_times_amps():
    est = en.estimate_energy(fuel_gauge(lambda t: 0.5), 0, 10 * S, "fuel_gauge")
    assert est.status == en.OK
    assert est.joules == pytest.approx(20.0)
    assert est.channels == ("current", "voltage")


def test_fuel_gauge_while_charging_is_invalid():
    est = en.estimate_energy(fuel_gauge(lambda t: 0.5, charging=1), 0, 10 * S, "fuel_gauge")
    assert est.status == en.INVALID
    assert "charging" in est.reason
    assert est.joules is None


def test_charge_counter_energy():
    charge = [Sample(round(t * S), "charge_counter", "charge", 3.0 - 0.001 * t, "Ah") for t in range(0, 11)]
    volts = [Sample(round(t * S), "fuel_gauge", "voltage", 3.8, "V") for t in range(0, 11)]
    est = en.estimate_energy(charge + volts, 0, 10 * S, EnergySource("charge_counter", True, resolution="1 uAh"))
    assert est.joules == pytest.approx(0.01 * 3600 * 3.8, rel=1e-9)
    assert est.resolution == pytest.approx(1e-3)  # observed quantum (1 mAh steps) is coarser than declared
    assert est.resolution_unit == "Ah"


def test_short_job_is_unresolvable_never_zero():
    est = en.estimate_energy(power_trace(lambda t: 2.0), int(1.0 * S), int(1.05 * S), "model:pixel7")
    assert est.status == en.UNRESOLVABLE
    assert est.joules is None
    assert "min_duration_s" in est.reason
    assert est.per(10) == (None, None)


def test_counter_that_did_not_move_is_unresolvable():
    charge = [Sample(t * S, "charge_counter", "charge", 3.0, "Ah") for t in range(0, 11)]
    volts = [Sample(t * S, "fuel_gauge", "voltage", 3.8, "V") for t in range(0, 11)]
    est = en.estimate_energy(charge + volts, 0, 10 * S, "charge_counter")
    assert est.status == en.UNRESOLVABLE
    assert est.joules is None


def test_net_within_uncertainty_is_unresolvable():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.2, 101)
    idle = power_trace(lambda t: 1.0 + noise[int(round(t * 10))])
    baseline = en.measure_baseline(idle, "model:pixel7")
    job = power_trace(lambda t: 1.0 + noise[::-1][int(round(t * 10))])
    est = en.estimate_energy(job, 0, 10 * S, "model:pixel7", baseline=baseline)
    assert est.status == en.UNRESOLVABLE
    assert est.joules is None


def test_window_outside_telemetry_is_unresolvable():
    est = en.estimate_energy(power_trace(lambda t: 1.0), 5 * S, 12 * S, "model:pixel7")
    assert est.status == en.UNRESOLVABLE


def test_unavailable_source_keeps_its_reason():
    est = en.estimate_energy([], 0, S, EnergySource("rapl", False, reason="not readable"))
    assert (est.status, est.reason) == (en.UNAVAILABLE, "not readable")
    assert en.estimate_energy([], 0, S, "odpm").status == en.UNAVAILABLE


def test_dataframe_input_matches_sample_list():
    trace = power_trace(lambda t: 1 + 0.5 * t)
    frame = pd.DataFrame([s.__dict__ for s in trace])
    a = en.estimate_energy(trace, S, 9 * S, "model:pixel7")
    b = en.estimate_energy(frame, S, 9 * S, "model:pixel7")
    assert a == b


def test_per_item_and_columns():
    est = en.estimate_energy(power_trace(lambda t: 2.0), 0, 10 * S, "model:pixel7")
    assert est.per(4) == (5.0, 0.0)
    cols = est.to_columns()
    assert cols["energy_status"] == "ok" and cols["energy_source"] == "model:pixel7"
    assert cols["energy_channels"] == "power"


def test_measured_window_skips_warmup():
    events = [{"event": "invoke", "warmup": True, "start_ns": 0, "end_ns": 5},
              {"event": "invoke", "warmup": False, "start_ns": 10, "end_ns": 20},
              {"event": "invoke", "warmup": False, "start_ns": 21, "end_ns": 30},
              {"event": "finished", "t_ns": 31}]
    assert en.measured_window(events) == (10, 30, 2)
    assert en.measured_window([]) is None


@pytest.mark.parametrize("text,expected", [("1 uJ", (1e-6, "J")), ("0.5 mAh", (5e-4, "Ah")), ("", None),
                                           ("10 µA", (1e-5, "A"))])
def test_parse_resolution(text, expected):
    got = en.parse_resolution(text)
    assert got == (pytest.approx(expected[0]), expected[1]) if expected else got is None


def _invokes(t0_s, t1_s, n):
    edges = np.linspace(t0_s, t1_s, n + 1)
    return [{"event": "invoke", "warmup": False, "start_ns": int(a * S), "end_ns": int(b * S)}
            for a, b in zip(edges[:-1], edges[1:])]


def test_job_energy_prefers_a_resolving_source_and_subtracts_its_baseline():
    sources = [EnergySource("model:pixel7", True, kind="modelled"), EnergySource("rapl", False, reason="no RAPL")]
    idle = power_trace(lambda t: 0.5, t_end_s=2.0)
    samples = power_trace(lambda t: 2.5)
    est, count = en.job_energy(sources, idle, samples, _invokes(1.0, 9.0, 100))
    assert (est.source, est.status, count) == ("model:pixel7", en.OK, 100)
    assert est.joules == pytest.approx(8 * 2.0)
    cols = en.energy_columns(est, count)
    assert cols["energy_per_item_j"] == pytest.approx(0.16)
    assert cols["energy_baseline_w"] == pytest.approx(0.5)


def test_job_energy_reports_why_when_nothing_resolves():
    sources = [EnergySource("rapl", False, reason="no RAPL"), EnergySource("model:pixel7", True, kind="modelled")]
    est, count = en.job_energy(sources, [], power_trace(lambda t: 2.0), _invokes(1.0, 1.05, 5))
    assert est.status == en.UNRESOLVABLE and est.source == "model:pixel7"
    assert en.energy_columns(est, count)["energy_per_item_j"] is None
    est, _ = en.job_energy([], [], [], _invokes(1.0, 2.0, 5))
    assert est.status == en.UNAVAILABLE and "no energy source" in est.reason


def test_net_energy_below_zero_is_unresolvable_never_ok():
    # the baseline was taken while the device was busier (3 W) than during the job (2 W), both steady
    baseline = en.measure_baseline(power_trace(lambda t: 3.0 + 0.01 * np.sin(7 * t)), "model:pixel7")
    est = en.estimate_energy(power_trace(lambda t: 2.0 + 0.01 * np.sin(5 * t)), 0, 10 * S, "model:pixel7",
                             baseline=baseline)
    assert est.status == en.UNRESOLVABLE and est.joules is None
    assert "below zero" in est.reason and "baseline" in est.reason and "ODPM" in est.reason


def test_unresolved_energy_says_what_can_help():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.2, 101)
    baseline = en.measure_baseline(power_trace(lambda t: 1.0 + noise[int(round(t * 10))]), "model:pixel7")
    job = power_trace(lambda t: 1.0 + noise[::-1][int(round(t * 10))])
    est = en.estimate_energy(job, 0, 10 * S, "model:pixel7", baseline=baseline)
    assert est.status == en.UNRESOLVABLE and "running longer does not help" in est.reason
    assert en._advice(0.1, 0.1, 0.5, cumulative=False).startswith("the idle baseline's spread dominates")
    assert "longer job (min_duration_s)" in en._advice(0.5, 0.1, 0.1, cumulative=True)


def test_a_battery_figure_no_phone_can_draw_is_invalid_never_ok():
    # 300 A: a uA current_now read as mA (one describe-time reading of 976 uA once decided "mA")
    est = en.estimate_energy(fuel_gauge(lambda t: 300.0), 0, 10 * S, "fuel_gauge")
    assert est.status == en.INVALID and est.joules is None
    assert "outside what a phone's battery delivers" in est.reason
    # a charging sign read the wrong way round: the "discharge" is negative
    assert en.estimate_energy(fuel_gauge(lambda t: -0.5), 0, 10 * S, "fuel_gauge").status == en.INVALID
    assert en.estimate_energy(fuel_gauge(lambda t: 0.5), 0, 10 * S, "fuel_gauge").status == en.OK


def test_fuel_gauge_and_charge_counter_that_disagree_are_both_invalid():
    gauge = fuel_gauge(lambda t: 0.5, volts=3.8)  # 1.9 W
    charge = [Sample(round(t * S), "charge_counter", "charge", 3.0 - 0.5 * t / 3600, "Ah") for t in range(11)]
    agree, n = en.job_energy([EnergySource("fuel_gauge", True), EnergySource("charge_counter", True)], [],
                             gauge + charge, [{"event": "invoke", "warmup": False, "start_ns": 0, "end_ns": 10 * S}])
    assert agree.status == en.OK and agree.source == "fuel_gauge" and n == 1
    slow = [Sample(s.t_ns, s.source, s.channel, 3.0 - (3.0 - s.value) / 1000, s.unit) for s in charge]  # 1000x off
    best, _ = en.job_energy([EnergySource("fuel_gauge", True), EnergySource("charge_counter", True)], [],
                            gauge + slow, [{"event": "invoke", "warmup": False, "start_ns": 0, "end_ns": 10 * S}])
    assert best.status == en.INVALID and "disagree" in best.reason
