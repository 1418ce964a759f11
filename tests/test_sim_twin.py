"""Phone twins behind the device contract: inducers, modelled energy in a real bench, heating and throttling."""

from __future__ import annotations

import pytest

from harness.bench import run_bench
from harness.cooldown import read
from harness.devices.sim import SimDevice
from harness.devices.sim.profiles import load_profile
from harness.devices.sim.twin import PhoneTwin
from harness.store import Store
from harness.suite import parse_suite
from tests.suites import infer, toy_suite

SUITE = toy_suite("twin", infer(warmup=2, iterations=20, min_duration_s=0.5), devices=["sim:android-low"],
                  baseline_s=0.5) + "[conditions]\nunplugged = true\nbattery_level = 42\n"


@pytest.mark.parametrize("profile", ["android-low", "android-flagship", "iphone-13"])
def test_inducers_change_what_the_twin_reports_and_restore_undoes_them(profile):
    device = SimDevice.open(f"sim:{profile}")
    before = device.snapshot()
    device.induce("battery_level", 15)
    device.induce("thermal_status", 3)
    device.induce("unplugged")
    device.induce("idle")
    now = device.snapshot()
    level = [s.value for s in now if s.source == f"model:{profile}/battery" and s.channel == "level"]
    assert level[-1] == pytest.approx(15, abs=0.01)
    assert read(now).status == 3 and device.twin.clock < 1.0
    device.restore()
    assert read(device.snapshot()).status == read(before).status == 0
    assert device.twin.level_pct == pytest.approx(load_profile(profile).initial_level_pct, abs=0.01)


def test_sustained_load_heats_the_twin_into_throttling():
    profile = load_profile("android-flagship")
    twin = PhoneTwin(profile, 0, period_s=1.0)
    start_level = twin.level_pct
    t, minute = 0, 60 * 10**9
    statuses = []
    for _ in range(30):  # 30 min of 6 W in the SoC
        twin.deposit(t, t + minute, 6.0 * 60)
        t += minute
        twin.advance_to(t)
        statuses.append(twin.status)
    assert statuses[0] == 0 and max(statuses) >= 2 and twin.clock < 1.0
    assert twin.thermal.temp("soc") > twin.thermal.temp("skin") > 39.0
    assert start_level - twin.level_pct == pytest.approx(6.0 * 0.5 / profile.battery.nominal_wh * 100, rel=0.05)


def test_a_bench_on_a_twin_stores_modelled_energy_labelled_with_its_profile(tmp_path, toy_artifact):
    store = Store(tmp_path / "store")
    result = run_bench(parse_suite(SUITE), store)
    assert result.status == "complete"
    row = store.results(result.run_id).iloc[0]
    assert (row["energy_source"], row["energy_kind"], row["energy_status"]) == ("model:android-low", "modelled", "ok")
    assert row["energy_joules"] > 0
    samples = store.samples(result.run_id)
    assert samples["source"].str.startswith("model:android-low").all()
    levels = samples[(samples["source"] == "model:android-low/battery") & (samples["channel"] == "level")]["value"]
    assert levels.max() <= 42.0 + 1e-9  # induced, and only falls while unplugged
    manifest = store.manifest(result.run_id)
    assert manifest["conditions"] == {"unplugged": True, "battery_level": 42}
    assert manifest["devices"][0]["kind"] == "sim"
