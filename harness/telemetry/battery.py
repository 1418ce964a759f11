"""Parsers for Android battery state: sysfs power_supply files/uevent and `dumpsys battery`.

The values stay raw here (vendor units and signs); `harness.telemetry.conventions` detects the
units per device and normalises them into samples.
"""

from __future__ import annotations

import dataclasses

from harness.telemetry._text import key_values, parse_bool, parse_number

__all__ = ["BatteryDump", "RawPowerSupply", "parse_dumpsys_battery", "parse_uevent", "power_supply_from_files"]

# BatteryManager.BATTERY_STATUS_* as `dumpsys battery` prints them.
_DUMPSYS_STATUS = {1: "Unknown", 2: "Charging", 3: "Discharging", 4: "Not charging", 5: "Full"}


@dataclasses.dataclass(frozen=True)
class RawPowerSupply:
    """One reading of /sys/class/power_supply/battery, raw kernel values (None when absent)."""

    current_now: float | None = None  # uA by kernel ABI; some vendors mA; sign vendor-specific
    voltage_now: float | None = None  # uV by kernel ABI; some vendors mV
    charge_counter: float | None = None  # uAh
    temp: float | None = None  # tenths of a degree C
    capacity: float | None = None  # %
    status: str | None = None  # "Charging", "Discharging", "Not charging", "Full", "Unknown"
    charge_full_design: float | None = None  # uAh


_FILES = ("current_now", "voltage_now", "charge_counter", "temp", "capacity", "charge_full_design")


def power_supply_from_files(values: dict[str, str]) -> RawPowerSupply:
    """Build a reading from power_supply file contents keyed by file name (any case).

    Example input: {"current_now": "-326171", "voltage_now": "3888173", "status": "Charging"}.
    Files an old kernel lacks, or that hold a non-number, come out as None.
    """
    low = {k.strip().lower(): v.strip() for k, v in values.items()}
    numbers = {name: parse_number(low.get(name)) for name in _FILES}
    return RawPowerSupply(status=low.get("status") or None, **numbers)


def parse_uevent(text: str) -> RawPowerSupply:
    """Parse a power_supply `uevent` file.

    Sample line: `POWER_SUPPLY_CURRENT_NOW=-326171` (kernel) or `CURRENT_NOW=-326171` (as some
    tools print it, e.g. the Xiaomi Mi 8 capture); the `POWER_SUPPLY_` prefix is optional.
    """
    values: dict[str, str] = {}
    for key, value in key_values(text, "=").items():
        name = key.removeprefix("power_supply_")
        values.setdefault(name, value)
    return power_supply_from_files(values)


@dataclasses.dataclass(frozen=True)
class BatteryDump:
    """`dumpsys battery` (BatteryService state as the framework sees it)."""

    ac_powered: bool | None
    usb_powered: bool | None
    wireless_powered: bool | None
    dock_powered: bool | None
    status: str | None  # same words as the sysfs status
    level: float | None  # %, already divided by scale
    voltage_v: float | None
    temperature_c: float | None
    charge_counter_uah: float | None
    technology: str | None
    updates_stopped: bool  # True after `dumpsys battery set/unplug` until `reset`

    @property
    def plugged(self) -> bool:
        return bool(self.ac_powered or self.usb_powered or self.wireless_powered or self.dock_powered)


def parse_dumpsys_battery(text: str) -> BatteryDump:
    """Parse `dumpsys battery`.

    Sample lines (Pixel C, Android 7): `  AC powered: true`, `  voltage: 3764`, `  temperature: 275`.
    Missing fields (Dock powered before Android 13, Charge counter 0 on some kernels) come out None;
    a `Charge counter` of 0 is treated as unavailable.
    """
    kv = key_values(text, ":")
    level = parse_number(kv.get("level"))
    scale = parse_number(kv.get("scale")) or 100.0
    volt = parse_number(kv.get("voltage"))
    temp = parse_number(kv.get("temperature"))
    status = parse_number(kv.get("status"))
    counter = parse_number(kv.get("charge counter"))
    return BatteryDump(
        ac_powered=parse_bool(kv.get("ac powered")),
        usb_powered=parse_bool(kv.get("usb powered")),
        wireless_powered=parse_bool(kv.get("wireless powered")),
        dock_powered=parse_bool(kv.get("dock powered")),
        status=None if status is None else _DUMPSYS_STATUS.get(int(status), "Unknown"),
        level=None if level is None else 100.0 * level / scale,
        voltage_v=None if volt is None else _millivolts_to_volts(volt),
        temperature_c=None if temp is None else temp / 10.0,
        charge_counter_uah=counter or None,
        technology=kv.get("technology") or None,
        updates_stopped="UPDATES STOPPED" in text,
    )


def _millivolts_to_volts(raw: float) -> float:
    # BatteryService prints mV; a few vendor builds leak the kernel's uV through.
    return raw / 1e6 if raw > 100_000 else raw / 1e3
