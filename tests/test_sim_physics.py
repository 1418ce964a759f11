"""Phone-twin physics against analytic solutions; every profile parameter cites a source."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.devices.sim.physics import (
    BatterySpec,
    BatteryState,
    ThermalNetwork,
    ThermalSpec,
    battery_current_a,
    clock_fraction,
    thermal_status,
)
from harness.devices.sim.profiles import load_profile, profile_names
from harness.errors import UserError

ONE_NODE = ThermalSpec(("skin",), (80.0,), (), {"skin": 0.2})
FLAT = BatterySpec(3000, ((0.0, 3.8), (1.0, 3.8)), 0.1)


@pytest.mark.parametrize("dt", [0.05, 1.0, 60.0, 600.0])
def test_one_node_approaches_steady_state_exponentially(dt):
    net = ThermalNetwork(ONE_NODE, ambient_c=25.0)
    power, tau = 3.0, 80.0 / 0.2
    t = 0.0
    while t < 1800:
        net.step([power], dt)
        t += dt
        expected = 25.0 + power / 0.2 * (1 - math.exp(-t / tau))
        assert net.temp("skin") == pytest.approx(expected, abs=1e-9)
    assert net.time_constants_s == pytest.approx((tau,))


def test_network_steady_state_is_the_series_resistance_and_step_size_does_not_matter():
    spec = load_profile("android-flagship").thermal
    coarse, fine = ThermalNetwork(spec, 25.0), ThermalNetwork(spec, 25.0)
    power = [4.0, 0.0, 0.0]  # all of it in the SoC
    coarse.step(power, 3600.0)
    for _ in range(3600):
        fine.step(power, 1.0)
    np.testing.assert_allclose(coarse.temps, fine.temps, atol=1e-9)
    far = ThermalNetwork(spec, 25.0)
    far.step(power, 1e6)
    # all heat leaves through the skin: the skin sits at ambient + P / G_amb
    assert far.temp("skin") == pytest.approx(25.0 + 4.0 / 0.24)
    assert far.temp("soc") > far.temp("skin")


def test_state_of_charge_declines_linearly_under_constant_power():
    battery = BatteryState(FLAT, soc=1.0)
    current = battery_current_a(FLAT, 1.0, 2.0)
    assert current * (3.8 - current * 0.1) == pytest.approx(2.0)  # P = I (OCV - I R)
    socs = []
    for _ in range(10):
        battery.step(2.0, 600.0)
        socs.append(battery.soc)
    drop = current * 600 / 3600 / 3.0  # per 10 minutes, of a 3 Ah cell
    np.testing.assert_allclose(np.diff([1.0, *socs]), -drop, rtol=1e-12)


def test_energy_drawn_matches_capacity_on_a_real_ocv_curve():
    spec = load_profile("android-low").battery
    battery = BatteryState(BatterySpec(spec.capacity_mah, spec.ocv, 0.0), soc=1.0)
    hours = 0
    while battery.soc > 0:
        battery.step(1.0, 3600.0, max_substep_s=10.0)
        hours += 1
    assert abs(hours - spec.nominal_wh) <= 1  # 1 W empties a ~11.5 Wh cell in ~11-12 h


def test_charging_raises_the_level_and_heats_the_cell():
    battery = BatteryState(FLAT, soc=0.5, plugged=True)
    current, heat = battery.step(1.0, 600.0)
    assert battery.soc > 0.5 and current < 0 and heat > 0


def test_throttling_starts_at_the_profiles_threshold():
    for name in profile_names():
        spec = load_profile(name).thermal
        onset = spec.throttle_onset_c
        assert math.isfinite(onset)
        below, at = thermal_status(spec, onset - 0.01), thermal_status(spec, onset)
        assert clock_fraction(spec, below) == 1.0 and clock_fraction(spec, at) < 1.0
        assert [thermal_status(spec, t) for t in spec.status_thresholds_c] == [1, 2, 3, 4, 5, 6]


def test_every_profile_parameter_cites_a_source(tmp_path):
    names = profile_names()
    assert {"android-low", "android-flagship", "iphone-13"} <= set(names)
    for name in names:
        profile = load_profile(name)
        for section, cites in profile.cites.items():
            assert cites and all(text.strip() for text in cites.values()), (name, section)
    text = (load_profile.__globals__["PROFILES_DIR"] / "android-low.toml").read_text()
    (tmp_path / "bad.toml").write_text(text.replace('capacity_mah = "power_profile battery.capacity = 3080"\n', ""))
    with pytest.raises(UserError, match=r"\[battery\] capacity_mah cites no source"):
        load_profile("bad", tmp_path)
