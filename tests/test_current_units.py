"""Raw battery units decided per run from evidence (issue 9): never `ok` energy on a guessed unit.

Parser level (sampler output text as the phone writes it) and end to end through the adbd stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.analysis.energy import estimate_energy, measured_window
from harness.telemetry.battery import power_supply_from_files
from harness.telemetry.conventions import (
    CONFLICT,
    DECIDED,
    EARLIER,
    UNDECIDED,
    UnitMemory,
    detect_convention,
    judge_units,
)
from harness.telemetry.sampler_output import parse_sampler_output
from tests.test_android_integration import BENCH_SUITE, REPO, adb_env, phone  # noqa: F401  (fixtures)

V = 3.85


def sampler_text(currents, *, counters=None, status="Discharging", dt=0.1, volts="3850000", capacity="80",
                 dumpsys_counter=None, t0=100.0) -> str:
    """What android_sampler.sh writes for these raw readings (one fast reading per `dt`)."""
    lines = ["@pid 4242", "@h 1 0.1 10"]
    for i, current in enumerate(currents):
        lines += [f"@t {t0 + i * dt:.2f}", f"@ps current_now {current}", f"@ps voltage_now {volts}",
                  f"@ps status {status}", f"@ps capacity {capacity}"]
        if counters is not None:
            lines.append(f"@ps charge_counter {counters[i]}")
        if i == 0 and dumpsys_counter is not None:
            lines += ["@begin battery", "Current Battery Service state:", f"  Charge counter: {dumpsys_counter}",
                      "  status: 3", "  level: 80", "  scale: 100", f"  voltage: {int(V * 1000)}", "@end"]
    lines += ["@stop"]
    return "\n".join(lines) + "\n"


def _describe_run(raw: str, memory: UnitMemory):
    """The description's three readings, judged (and remembered) like a sampler run."""
    reading = power_supply_from_files({"current_now": raw, "voltage_now": "3850000", "status": "Discharging"})
    units = judge_units([(i * 200_000_000, reading) for i in range(3)], (), memory)
    units.record(memory)
    return units


def _gross_j(samples, t0_s: float, t1_s: float) -> float:
    estimate = estimate_energy(samples, int(t0_s * 1e9), int(t1_s * 1e9), "fuel_gauge")
    assert estimate.gross_j is not None, estimate
    return estimate.gross_j


def test_a_low_current_at_describe_no_longer_fixes_the_unit_for_the_job() -> None:
    # The case: 976 (uA) at describe time, then a 5.4 s job at ~300000 uA, 3.85 V: ~6.2 J, not 6,200 J.
    memory = UnitMemory()
    described = _describe_run("-976", memory)
    assert described.current_unit.state == UNDECIDED  # 3.8 mW as uA, 3.8 W as mA: both plausible
    assert described.convention().to_extra()["current_now_unit"] == "undecided"
    assert detect_convention([power_supply_from_files({"current_now": "976", "status": "Discharging",
                                                       "voltage_now": "3850000"})]).current_unit == "uA"
    out = parse_sampler_output(sampler_text(["-300000"] * 56), memory)
    assert out.units.current_unit.state == DECIDED and out.convention.current_unit == "uA"
    assert "mA ruled out" in out.units.current_unit.evidence
    assert out.units.invalid() == {}
    assert _gross_j(out.samples, 100.0, 105.4) == pytest.approx(0.3 * V * 5.4, rel=1e-3)
    out.units.record(memory)
    assert set(memory.decided("current_now_unit")) == {"uA"}


def test_an_ambiguous_run_without_a_counter_is_invalid_with_the_reason() -> None:
    out = parse_sampler_output(sampler_text(["-976", "-1500", "-1200"] * 10), UnitMemory())
    assert out.units.current_unit.state == UNDECIDED
    reason = out.units.invalid()["fuel_gauge"]
    assert "current_now_unit undecided" in reason and "both plausible" in reason
    assert out.units.evidence()["current_now_unit"] == "undecided (read as uA)"
    assert "charge_counter" not in out.units.invalid()  # none read


def test_an_earlier_decision_reads_an_ambiguous_run_and_a_later_one_vouches_for_it() -> None:
    memory = UnitMemory()
    baseline = parse_sampler_output(sampler_text(["-976"] * 10), memory)
    assert baseline.units.current_unit.state == UNDECIDED
    job = parse_sampler_output(sampler_text(["-300000"] * 20, t0=102.0), memory)
    job.units.record(memory)
    # the baseline read as uA (the kernel ABI) and the job right after decided uA: now vouched for
    resolved = baseline.units.resolve(memory)
    assert resolved.current_unit.state == EARLIER and resolved.invalid() == {}
    assert "decided by another run" in resolved.current_unit.evidence
    later = parse_sampler_output(sampler_text(["-976"] * 10, t0=110.0), memory)
    assert later.units.current_unit.state == EARLIER and "decided earlier" in later.units.current_unit.evidence


def test_a_counter_slope_that_disagrees_is_a_conflict() -> None:
    # 300000 rules mA out (1.2 kW); the counter falls 1 uAh a second: 3.6 mA, 83x under 0.3 A: uA out too.
    n = 60
    counters = [3_000_000 - (i // 10) for i in range(n)]
    out = parse_sampler_output(sampler_text(["-300000"] * n, counters=counters), UnitMemory())
    assert out.units.counter_unit is not None and out.units.counter_unit.state == DECIDED  # uAh: 3.75 Ah at 80%
    assert out.units.current_unit.state == CONFLICT
    reason = out.units.invalid()["fuel_gauge"]
    assert "no unit fits" in reason and "charge counter" in reason


def test_a_milliamp_kernel_is_decided_by_its_counter() -> None:
    # 200-2000 raw: as uA 0.8-7.7 mW, as mA 0.8-7.7 W, both plausible; the uAh counter falls at ~1.1 A.
    raws = [200, 2000, 1100, 900, 1300] * 12
    n = len(raws)
    mean_a = sum(raws) / n / 1000
    counters = [round(3_000_000 - mean_a * i * 0.1 / 3600 * 1e6) for i in range(n)]
    out = parse_sampler_output(sampler_text([str(r) for r in raws], counters=counters, volts="3850"), UnitMemory())
    assert out.units.current_unit.state == DECIDED and out.convention.current_unit == "mA"
    assert "uA ruled out" in out.units.current_unit.evidence and "charge counter" in out.units.current_unit.evidence
    assert out.convention.charging_sign == -1  # discharging reads positive on this kernel
    assert out.units.invalid() == {}
    currents = [s.value for s in out.samples if s.channel == "current"]
    assert currents[0] == pytest.approx(0.2) and currents[1] == pytest.approx(2.0)
    # the same readings without the counter cannot decide
    alone = parse_sampler_output(sampler_text([str(r) for r in raws], volts="3850"), UnitMemory())
    assert alone.units.current_unit.state == UNDECIDED and "fuel_gauge" in alone.units.invalid()


def test_a_run_that_contradicts_an_earlier_decision_is_a_conflict() -> None:
    memory = UnitMemory()
    parse_sampler_output(sampler_text(["-300000"] * 10), memory).units.record(memory)  # uA
    out = parse_sampler_output(sampler_text(["100"] * 10), memory)  # 0.4 mW as uA: mA
    assert out.units.current_unit.state == CONFLICT and "contradicts another run" in out.units.current_unit.evidence
    assert "fuel_gauge" in out.units.invalid()
    out.units.record(memory)
    ambiguous = parse_sampler_output(sampler_text(["-976"] * 10), memory)
    assert ambiguous.units.current_unit.state == CONFLICT and "disagree" in ambiguous.units.current_unit.evidence


def test_charge_counter_unit_from_dumpsys_and_the_level() -> None:
    # a mAh kernel whose health HAL converts: dumpsys says 3000000 uAh where sysfs says 3000
    out = parse_sampler_output(sampler_text(["-300000"] * 5, counters=[3000] * 5, dumpsys_counter=3000000))
    assert out.units.counter_unit is not None and out.units.counter_unit.unit == "mAh"
    assert out.units.counter_unit.state == DECIDED
    charge = [s.value for s in out.samples if s.channel == "charge"]
    assert charge[0] == pytest.approx(3.0)
    # the framework passing the raw value through contradicts the level: no unit fits, the counter is not used
    odd = parse_sampler_output(sampler_text(["-300000"] * 5, counters=[3000] * 5, dumpsys_counter=3000))
    assert odd.units.counter_unit is not None and odd.units.counter_unit.state == CONFLICT
    assert "charge_counter_unit conflict" in odd.units.invalid()["charge_counter"]
    assert "fuel_gauge" not in odd.units.invalid()  # the current decides by its own power range
    # the usual kernel: uAh, dumpsys agrees
    usual = parse_sampler_output(sampler_text(["-300000"] * 5, counters=[3_000_000] * 5, dumpsys_counter=3_000_000))
    assert usual.units.counter_unit is not None and usual.units.counter_unit.unit == "uAh"
    assert usual.units.evidence()["charge_counter_unit"] == "uAh"


def test_no_direction_leaves_the_sign_undecided() -> None:
    out = parse_sampler_output(sampler_text(["-300000"] * 5, status="Unknown"))
    assert out.units.sign.state == UNDECIDED and "statuses: Unknown" in out.units.sign.evidence
    assert "current_now_sign undecided" in out.units.invalid()["fuel_gauge"]


# ------------------------------------------------------------------ end to end through the adbd stand-in


def _bench(standin, adb_env, tmp_path: Path, suite: str):  # noqa: F811
    (tmp_path / "suite.toml").write_text(suite)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "bench", "--suite", str(tmp_path / "suite.toml"),
         "--device", f"android:{standin.serial}", "--results", str(tmp_path / "store")],
        cwd=REPO, env=adb_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from harness.store import Store

    store = Store(tmp_path / "store")
    return store, store.results("latest").iloc[0]


@pytest.mark.adb
def test_bench_idle_under_a_milliamp_then_a_job_gets_true_energy(phone, adb_env, tmp_path) -> None:  # noqa: F811
    sandbox, standin = phone
    # idle 976 uA (the capture) at describe and baseline; 300 mA while the job runs, 3.85 V
    sandbox.set_power_supply(current_now="-976", voltage_now="3850000")
    sandbox.update_state(job_current_now="-300000")
    store, row = _bench(standin, adb_env, tmp_path, BENCH_SUITE.replace("min_duration_s = 2.0", "min_duration_s = 5.4"))
    t0, t1, _ = measured_window(store.events("latest").to_dict("records"))
    analytic = (0.3 - 0.000976) * V * (t1 - t0) / 1e9
    assert row["energy_source"] == "fuel_gauge" and row["energy_status"] == "ok", row["energy_reason"]
    assert row["energy_joules"] == pytest.approx(analytic, rel=0.02)
    evidence = json.loads(row["telemetry_evidence"])
    assert evidence["job"]["current_now_unit"] == "uA" and "mA ruled out" in evidence["job"]["current_now_unit_evidence"]
    assert evidence["baseline"]["current_now_unit"] == "uA"
    assert "decided by another run" in evidence["baseline"]["current_now_unit_evidence"]
    device = store.manifest("latest")["devices"][0]
    assert device["extra"]["current_now_unit"] == "undecided"  # one describe reading decides nothing


@pytest.mark.adb
def test_bench_on_a_phone_whose_readings_stay_ambiguous_is_invalid(phone, adb_env, tmp_path) -> None:  # noqa: F811
    sandbox, standin = phone
    sandbox.remove_power_supply("charge_counter")
    sandbox.set_power_supply(current_now="-976", voltage_now="3850000")
    sandbox.update_state(job_current_now="-1500")  # 5.8 mW as uA, 5.8 W as mA: nothing tells them apart
    _, row = _bench(standin, adb_env, tmp_path, BENCH_SUITE.replace("min_duration_s = 2.0", "min_duration_s = 1.0"))
    assert row["energy_status"] == "invalid"
    assert "current_now_unit undecided" in row["energy_reason"] and "both plausible" in row["energy_reason"]
    assert json.loads(row["telemetry_evidence"])["job"]["current_now_unit"] == "undecided (read as uA)"
