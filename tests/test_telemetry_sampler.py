"""The on-device sampler script under mksh with only toybox utilities (what a phone has)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.telemetry.sampler_output import SAMPLER_SCRIPT, parse_sampler_output
from tests.adbd_standin import DeviceSandbox

pytestmark = pytest.mark.skipif(not (shutil.which("mksh") and shutil.which("toybox")), reason="needs mksh and toybox")


def run_sampler(sandbox: DeviceSandbox, seconds: float, odpm: bool = False, during=None) -> str:
    out, stop = "/data/local/tmp/s.txt", "/data/local/tmp/s.stop"
    args = [out, stop, "0.05", "4", "/sys/class/power_supply/battery", "/sys/class/thermal", str(int(odpm)), "1"]
    proc = sandbox.spawn(" ".join(["sh", str(SAMPLER_SCRIPT), *args]))
    deadline = time.monotonic() + 10
    while "@ready" not in _read(sandbox, out):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    if during is not None:
        during()
    time.sleep(seconds)
    sandbox.host_path(stop).touch()
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    return _read(sandbox, out)


def _read(sandbox: DeviceSandbox, path: str) -> str:
    host = sandbox.host_path(path)
    return host.read_text() if host.exists() else ""


def test_sampler_under_mksh_and_toybox(tmp_path: Path) -> None:
    sandbox = DeviceSandbox(tmp_path, odpm_rails_w={"[VSYS_PWR_DISPLAY]:Display": 0.5})
    text = run_sampler(sandbox, 0.5, odpm=True)
    assert text.splitlines()[-1] == "@stop"
    out = parse_sampler_output(text)
    assert out.complete and out.thermal_source == "hal"
    by = {}
    for s in out.samples:
        by.setdefault((s.source, s.channel), []).append(s)
    current = by["fuel_gauge", "current"]
    assert len(current) >= 6  # ~20 Hz for 0.5 s plus start and stop readings
    assert all(s.value == pytest.approx(0.45) and s.unit == "A" for s in current)  # -450000 uA discharging
    assert by["fuel_gauge", "voltage"][0].value == pytest.approx(3.9)
    assert by["charge_counter", "charge"][0].value == pytest.approx(3.0)
    assert by["battery", "temp"][0].value == pytest.approx(29.1)
    assert by["battery", "charging"][0].value == 0.0
    assert by["thermal", "cpu0-silver"][0].value == pytest.approx(41.5)
    assert by["thermal", "hal:VIRTUAL-SKIN"][0].value == pytest.approx(30.25)
    assert by["thermal", "status"][0].value == 0
    rail = by["odpm", "[VSYS_PWR_DISPLAY]:Display"]
    assert len(rail) >= 2 and rail[-1].value > rail[0].value
    assert (rail[-1].value - rail[0].value) / ((rail[-1].t_ns - rail[0].t_ns) / 1e9) == pytest.approx(0.5, rel=0.2)
    times = [s.t_ns for s in current]
    assert times == sorted(times)
    # Same clock as the runner's events (CLOCK_BOOTTIME == CLOCK_MONOTONIC on a host that never slept).
    assert abs(times[-1] - time.clock_gettime_ns(time.CLOCK_BOOTTIME)) < 5e9
    assert out.convention.current_unit == "uA" and out.convention.charging_sign == 1


def test_sampler_sees_scripted_change_and_missing_files(tmp_path: Path) -> None:
    sandbox = DeviceSandbox(tmp_path)
    sandbox.remove_power_supply("charge_counter")  # old kernels have none

    def plug_in() -> None:
        time.sleep(0.2)
        sandbox.set_power_supply(current_now="300000", status="Charging")  # kernel ABI: charging positive

    text = run_sampler(sandbox, 0.4, during=plug_in)
    out = parse_sampler_output(text)
    assert not any(s.source == "charge_counter" for s in out.samples)
    charging = [s.value for s in out.samples if s.channel == "charging"]
    assert charging[0] == 0.0 and charging[-1] == 1.0
    currents = [s.value for s in out.samples if s.channel == "current"]
    assert currents[0] == pytest.approx(0.45) and currents[-1] == pytest.approx(-0.3)


def test_script_is_posix_without_bashisms() -> None:
    # `mksh -o posix` refuses mksh extensions that a phone's older mksh might lack.
    result = subprocess.run(["mksh", "-o", "posix", "-n", str(SAMPLER_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if shutil.which("dash"):
        result = subprocess.run(["dash", "-n", str(SAMPLER_SCRIPT)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_two_zones_of_one_type_stay_two_channels(tmp_path: Path) -> None:
    sandbox = DeviceSandbox(tmp_path)
    for index, milli in ((2, "48000"), (3, "52000")):  # two CPU clusters that both say "cpu"
        zone = sandbox.root / "sys/class/thermal" / f"thermal_zone{index}"
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "type").write_text("cpu\n")
        (zone / "temp").write_text(milli + "\n")
    out = parse_sampler_output(run_sampler(sandbox, 0.1))
    zones = {s.channel: s.value for s in out.samples if s.source == "thermal" and s.unit == "C"}
    assert zones["cpu (thermal_zone2)"] == pytest.approx(48.0) and zones["cpu (thermal_zone3)"] == pytest.approx(52.0)
    assert zones["battery"] == pytest.approx(33.1) and "cpu" not in zones  # a type of its own keeps its name
