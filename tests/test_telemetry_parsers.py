"""Every Android capture in tests/fixtures parses with the right values and units (each file names its source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.telemetry.battery import parse_dumpsys_battery, parse_uevent, power_supply_from_files
from harness.telemetry.conventions import CurrentConvention, detect_convention, power_supply_samples
from harness.telemetry.odpm import parse_power_stats
from harness.telemetry.thermal import parse_thermalservice, zone_celsius

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> str:
    """A captured device output kept in the repo; a missing one fails the test (it is never skipped)."""
    return (FIXTURES / name).read_text()


def test_xiaomi_uevent_charging_negative() -> None:
    reading = parse_uevent(fixture("android_sysfs_battery_uevent_xiaomi_mi8_charging_accA27.txt"))
    assert reading.current_now == -326171
    assert reading.voltage_now == 3888173
    assert reading.charge_counter == 1528169
    assert reading.temp == 290
    assert reading.capacity == 50
    assert reading.status == "Charging"
    conv = detect_convention([reading])
    assert conv.current_unit == "uA"
    assert conv.charging_sign == -1  # this Qualcomm kernel reports charging as negative
    assert conv.determined
    samples = {(s.source, s.channel): s for s in power_supply_samples(7, reading, conv)}
    # Charging means current INTO the battery: negative in the harness convention (positive = discharging).
    assert samples["fuel_gauge", "current"].value == pytest.approx(-0.326171)
    assert samples["fuel_gauge", "current"].unit == "A"
    assert samples["fuel_gauge", "voltage"].value == pytest.approx(3.888173)
    assert samples["charge_counter", "charge"].value == pytest.approx(1.528169)
    assert samples["battery", "temp"].value == pytest.approx(29.0)
    assert samples["battery", "level"].value == 50
    assert samples["battery", "charging"].value == 1.0
    assert conv.to_extra()["current_now_charging_sign"] == "negative"


def test_uevent_kernel_prefix_mixed_case_and_duplicates() -> None:
    text = (
        "POWER_SUPPLY_NAME=battery\n  POWER_SUPPLY_STATUS=Discharging\n"
        "POWER_SUPPLY_CURRENT_NOW=-412000\npower_supply_current_now=999\n"
        "POWER_SUPPLY_VOLTAGE_NOW=4012000\nPOWER_SUPPLY_VENDOR_EXTRA=xyz\n"
    )
    reading = parse_uevent(text)
    assert reading.current_now == -412000  # first wins over the lower-case duplicate
    assert reading.charge_counter is None  # missing on this kernel
    conv = detect_convention([reading])
    assert conv.charging_sign == 1  # discharging negative -> kernel ABI convention
    assert conv.discharge_amps(-412000) == pytest.approx(0.412)


def test_milliamp_kernel_detected() -> None:
    # 212 uA would be 0.8 mW discharging, under what an awake phone draws; 412 (1.6 mW as uA) stays undecided
    readings = [power_supply_from_files({"current_now": "212", "status": "Discharging", "voltage_now": "3900"})]
    conv = detect_convention(readings)
    assert conv.current_unit == "mA"
    assert conv.charging_sign == -1  # discharging reported positive
    assert conv.discharge_amps(212) == pytest.approx(0.212)
    samples = {(s.source, s.channel): s.value for s in power_supply_samples(0, readings[0], conv)}
    assert samples["fuel_gauge", "voltage"] == pytest.approx(3.9)


def test_undirected_readings_keep_prior() -> None:
    prior = detect_convention([power_supply_from_files({"current_now": "-300000", "status": "Charging"})])
    full = [power_supply_from_files({"current_now": "120000", "status": "Full"})]
    conv = detect_convention(full, prior)
    assert conv.charging_sign == -1 and prior.sign_evidence in conv.sign_evidence
    assert not detect_convention([]).determined
    assert detect_convention([]) == CurrentConvention()


def test_pixel_c_dumpsys_battery() -> None:
    dump = parse_dumpsys_battery(fixture("android_dumpsys_battery_pixelC_android7_syzkaller79.txt"))
    assert dump.ac_powered is True and dump.usb_powered is False and dump.wireless_powered is False
    assert dump.dock_powered is None  # no such line before Android 13
    assert dump.plugged
    assert dump.status == "Charging"
    assert dump.level == 19
    assert dump.voltage_v == pytest.approx(3.764)
    assert dump.temperature_c == pytest.approx(27.5)
    assert dump.charge_counter_uah is None  # printed as 0: unavailable
    assert dump.technology == "Li-ion"
    assert not dump.updates_stopped


def test_aosp_main_dumpsys_battery_format() -> None:
    # The fixture documents the field order and units; fill its placeholders the way the code prints.
    template = fixture("android_dumpsys_battery_aosp_main_dump_format.txt")
    values = {
        "<bool chargerAcOnline>": "false", "<bool chargerUsbOnline>": "true",
        "<bool chargerWirelessOnline>": "false", "<bool chargerDockOnline>": "false",
        "<int maxChargingCurrentMicroamps>": "500000", "<int maxChargingVoltageMicrovolts>": "5000000",
        "<int batteryChargeCounterUah>": "3120000",
        "<int BatteryManager.BATTERY_STATUS_*: 1 unknown,2 charging,3 discharging,4 not charging,5 full>": "4",
        "<int BATTERY_HEALTH_*: 1 unknown,2 good,3 overheat,4 dead,5 over voltage,6 unspecified failure,7 cold>": "2",
        "<bool>": "true", "<int>": "80", "<int batteryVoltageMillivolts>": "4211",
        "<int batteryTemperatureTenthsCelsius>": "312", "<string>": "Li-ion",
        "<int chargingState>": "1", "<int chargingPolicy>": "1",
    }
    lines = [line for line in template.splitlines() if not line.startswith("#")]
    text = "\n".join(lines).replace("      <- only after `dumpsys battery set/unplug`", "")
    for key, value in values.items():
        text = text.replace(key, value)
    dump = parse_dumpsys_battery(text)
    assert dump.updates_stopped
    assert dump.usb_powered and dump.dock_powered is False
    assert dump.status == "Not charging"
    assert dump.level == 80
    assert dump.voltage_v == pytest.approx(4.211)
    assert dump.temperature_c == pytest.approx(31.2)
    assert dump.charge_counter_uah == 3120000


def test_shield_thermalservice_truncated() -> None:
    dump = parse_thermalservice(fixture("android_thermalservice_shield_tv_issue6.txt"))
    assert dump.status == 0
    assert dump.status_override is False
    assert dump.temperatures_source == "cached"  # truncated before "Current temperatures from HAL"
    assert [(t.name, t.celsius, t.type) for t in dump.temperatures][:2] == [("GPU", 36.0, 1), ("CPU0", 37.0, 0)]
    assert len(dump.temperatures) == 5


# Found captures: the HAL block quoted as "Real output" in a public adb-exporter design note
# (tab-indented, float noise), and a Pixel-style dump whose cooling devices follow the temperatures.
HAL_CAPTURE = (
    "IsStatusOverride: true\nThermal Status: 3\nCached temperatures:\n"
    "\tTemperature{mValue=37.0, mType=0, mName=CPU0, mStatus=0}\n"
    "HAL Ready: true\nHAL connection:\n\tThermalHAL AIDL 1  connected: yes\n"
    "Current temperatures from HAL:\n"
    "\tTemperature{mValue=62.500004, mType=0, mName=CPU0, mStatus=0}\n"
    "\tTemperature{mValue=62.500004, mType=0, mName=CPU1, mStatus=0}\n"
    "\tTemperature{mValue=61.000004, mType=1, mName=GPU, mStatus=0}\n"
    "    Temperature{mValue=23.793081, mType=3, mName=VIRTUAL-SKIN, mStatus=0}\n"
    "Current cooling devices from HAL:\n"
    "\tCoolingDevice{mValue=0, mType=5, mName=tpu_cooling}\n"
)


def test_thermalservice_prefers_hal_over_cached() -> None:
    dump = parse_thermalservice(HAL_CAPTURE)
    assert dump.status == 3 and dump.status_override is True
    assert dump.temperatures_source == "hal"
    assert {t.name: t.celsius for t in dump.temperatures} == {
        "CPU0": 62.500004, "CPU1": 62.500004, "GPU": 61.000004, "VIRTUAL-SKIN": 23.793081,
    }


def test_thermalservice_android9_without_mstatus() -> None:
    text = "Thermal Status: 1\nCurrent temperatures from HAL:\n\tTemperature{mValue=41.5, mType=2, mName=battery}\n"
    dump = parse_thermalservice(text)
    assert dump.temperatures[0].name == "battery" and dump.temperatures[0].status is None


def test_aosp_q_thermalservice_format() -> None:
    template = fixture("android_thermalservice_aosp_q_dump_format.txt")
    assert "Current temperatures from HAL:" in template
    text = (
        "IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 1\nThermalStatusListeners:\n\tcallbacks: 1\n"
        "Thermal Status: 2\nCached temperatures:\n\tTemperature{mValue=30.0, mType=3, mName=skin, mStatus=0}\n"
        "HAL Ready: true\nHAL connection:\n\tThermalHAL 2.0 connected: yes\nCurrent temperatures from HAL:\n"
        "\tTemperature{mValue=44.25, mType=3, mName=skin, mStatus=2}\n"
    )
    dump = parse_thermalservice(text)
    assert dump.status == 2
    assert dump.temperatures == (dump.temperatures[0],) and dump.temperatures[0].celsius == 44.25


def test_odpm_power_stats_delta_and_plain() -> None:
    template = fixture("android_odpm_powerstats_hal2_pixel_dump_format.txt")
    assert "%14.2f mWs" in template
    rows = [("[VSYS_PWR_DISPLAY]:Display", 1039108.42, 344.69), ("[S10M_VDD_TPU]:TPU", 51234.5, 0.0)]
    plain = "\n============= PowerStats HAL 2.0 energy meter ==============\n"
    plain += "  %32s   %18s\n" % ("Channel", "Cumulative Energy")
    plain += "".join("  %32s   %14.2f mWs\n" % (name, mws) for name, mws, _ in rows)
    plain += "========== End of PowerStats HAL 2.0 energy meter ==========\n"
    plain += "============= PowerStats HAL 2.0 energy consumers ==============\nCPU          :       12.00 mWs\n"
    rails = {r.rail: r.energy_j for r in parse_power_stats(plain)}
    assert rails == {"[VSYS_PWR_DISPLAY]:Display": pytest.approx(1039.10842), "[S10M_VDD_TPU]:TPU": pytest.approx(51.2345)}
    delta = "============= PowerStats HAL 2.0 energy meter ==============\nElapsed time: 1000 ms\n"
    delta += "  %32s   %18s (%14s)\n" % ("Channel", "Cumulative Energy", "Delta   ")
    delta += "".join("  %32s   %14.2f mWs (%14.2f)\n" % row for row in rows)
    delta += "========== End of PowerStats HAL 2.0 energy meter ==========\n"
    assert {r.rail: r.energy_j for r in parse_power_stats(delta)} == rails
    assert parse_power_stats("Can't find service: android.hardware.power.stats.IPowerStats/default") == ()


def test_perfetto_battery_counters_signs() -> None:
    # Perfetto's batt.current_ua comes from BatteryManager (negative = discharging, like the kernel ABI).
    rows = [line.split(" | ") for line in fixture("android_perfetto_battery_counters_table.txt").splitlines()
            if line[:1].isdigit()]
    currents = [float(v) for _, name, v in rows if name == "batt.current_ua"]
    readings = [power_supply_from_files({"current_now": str(v), "status": "Discharging"}) for v in currents]
    conv = detect_convention(readings)
    assert conv.current_unit == "uA" and conv.charging_sign == 1
    assert conv.discharge_amps(currents[0]) == pytest.approx(1.469687)
    charge = [float(v) for _, name, v in rows if name == "batt.charge_uah"]
    sample = power_supply_samples(0, power_supply_from_files({"charge_counter": str(charge[0])}), conv)
    assert sample[0].value == pytest.approx(2.085) and sample[0].unit == "Ah"


@pytest.mark.parametrize(("raw", "celsius"), [("45000", 45.0), ("-5300\n", -5.3), ("45", 45.0), ("N/A", None)])
def test_zone_celsius(raw: str, celsius: float | None) -> None:
    assert zone_celsius(raw) == celsius
