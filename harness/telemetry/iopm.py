"""iOS battery readings: the IOPMPowerSource dictionary pymobiledevice3's `DiagnosticsService.get_battery()`
returns as-is, in the vocabulary's units.

Raw conventions (IOKit's IOPMPowerSource keys, as tidevice and pymobiledevice3 read them):

- `InstantAmperage` mA, signed, negative = discharging; over lockdown it may arrive as an unsigned 16-bit
  value, so anything above 32767 is two's complement (65325 -> -211 mA). `Amperage` is the gauge's
  averaged current in the same convention.
- `Voltage` mV (`AppleRawBatteryVoltage` is the cell's raw voltage, mV).
- `Temperature` 1/100 °C (3010 -> 30.10 °C, the battery's, not the SoC's).
- `CurrentCapacity` percent; `AppleRawCurrentCapacity`, `AppleRawMaxCapacity`, `NominalChargeCapacity`,
  `DesignCapacity` mAh.
- `IsCharging`, `ExternalConnected` (`AppleRawExternalConnected`) booleans; `UpdateTime` unix seconds of
  the gauge's last refresh (it refreshes every few seconds to ~20 s, not per request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from harness.events import Sample

__all__ = ["SOURCE", "PowerSource", "parse_power_source", "power_source_samples", "signed16"]

SOURCE = "iopm"  # the energy source name of IOPMPowerSource readings (docs/architecture.md)


def signed16(value: int) -> int:
    """A current lockdown sent as an unsigned 16-bit value, as the signed mA it stands for."""
    return value - 0x10000 if 32767 < value <= 0xFFFF else value


def _int(raw: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _bool(raw: Mapping[str, Any], *keys: str) -> bool | None:
    for key in keys:
        if isinstance(raw.get(key), bool):
            return raw[key]
    return None


@dataclasses.dataclass(frozen=True)
class PowerSource:
    """One IOPMPowerSource reading, converted; None where the dictionary lacks the key."""

    current_ma: int | None  # InstantAmperage, signed, negative = discharging
    average_ma: int | None  # Amperage, same sign
    voltage_mv: int | None  # Voltage, else AppleRawBatteryVoltage
    temperature_c: float | None
    level_pct: int | None  # CurrentCapacity
    charging: bool | None  # IsCharging
    external: bool | None  # ExternalConnected (USB or another charger attached)
    raw_capacity_mah: int | None  # AppleRawCurrentCapacity
    max_capacity_mah: int | None  # AppleRawMaxCapacity, else NominalChargeCapacity
    design_capacity_mah: int | None
    update_time: int | None  # UpdateTime, unix s

    @property
    def powered(self) -> bool:
        """On external power: the gauge then sees the charger, not the job."""
        return bool(self.charging or self.external)


def parse_power_source(raw: Mapping[str, Any]) -> PowerSource:
    """IOPMPowerSource as `get_battery()` returns it, e.g.
    `{"InstantAmperage": -211, "Temperature": 3010, "Voltage": 4123, "IsCharging": False, "CurrentCapacity": 78}`.
    """
    current, average = _int(raw, "InstantAmperage"), _int(raw, "Amperage")
    temperature = _int(raw, "Temperature")
    return PowerSource(
        current_ma=signed16(current) if current is not None else None,
        average_ma=signed16(average) if average is not None else None,
        voltage_mv=_int(raw, "Voltage", "AppleRawBatteryVoltage"),
        temperature_c=temperature / 100.0 if temperature is not None else None,
        level_pct=_int(raw, "CurrentCapacity"),
        charging=_bool(raw, "IsCharging"),
        external=_bool(raw, "ExternalConnected", "AppleRawExternalConnected"),
        raw_capacity_mah=_int(raw, "AppleRawCurrentCapacity"),
        max_capacity_mah=_int(raw, "AppleRawMaxCapacity", "NominalChargeCapacity"),
        design_capacity_mah=_int(raw, "DesignCapacity"),
        update_time=_int(raw, "UpdateTime"),
    )


def power_source_samples(reading: PowerSource, t_ns: int) -> list[Sample]:
    """The vocabulary's samples of one reading: `iopm` current (A, positive = discharging) and voltage (V),
    `battery` temperature, level and charging (1 while on external power)."""
    out = []
    if reading.current_ma is not None:
        out.append(Sample(t_ns, SOURCE, "current", -reading.current_ma / 1000.0, "A"))
    if reading.voltage_mv is not None:
        out.append(Sample(t_ns, SOURCE, "voltage", reading.voltage_mv / 1000.0, "V"))
    if reading.temperature_c is not None:
        out.append(Sample(t_ns, "battery", "temp", reading.temperature_c, "C"))
    if reading.level_pct is not None:
        out.append(Sample(t_ns, "battery", "level", float(reading.level_pct), "%"))
    if reading.charging is not None or reading.external is not None:
        out.append(Sample(t_ns, "battery", "charging", 1.0 if reading.powered else 0.0, "bool"))
    return out
