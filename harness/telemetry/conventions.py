"""Per-device detection of raw battery units and signs, and normalisation into SI samples.

Kernels disagree: `current_now` is uA by the power_supply ABI but mA on some vendor kernels, and
the sign of a charging current is positive on most (ABI, BatteryManager) but negative on e.g. the
Xiaomi Mi 8 Qualcomm kernel. The harness detects both from readings whose charging status is known
and records the result with the device description, so analysis never guesses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from harness.events import Sample
from harness.telemetry.battery import RawPowerSupply

__all__ = ["CurrentConvention", "detect_convention", "power_supply_samples", "readings_extra"]

# A phone battery never sustains 20 A, and a phone running a benchmark never draws under 20 mA:
# a magnitude at or above this many raw units means uA, anything smaller (but non-zero) means mA.
_UA_THRESHOLD = 20_000
_CHARGING = "charging"
_DISCHARGING = "discharging"


@dataclasses.dataclass(frozen=True)
class CurrentConvention:
    """How a device reports `current_now`.

    `current_unit` is "uA" or "mA"; `charging_sign` is +1 when a charging current is positive (the
    kernel ABI), -1 when it is negative. `*_evidence` say how each was decided ("assumed ..." when
    no reading could decide it).
    """

    current_unit: str = "uA"
    charging_sign: int = 1
    unit_evidence: str = "assumed kernel ABI (no non-zero current seen)"
    sign_evidence: str = "assumed kernel ABI (no reading with a known charge direction)"

    @property
    def determined(self) -> bool:
        return not (self.unit_evidence.startswith("assumed") or self.sign_evidence.startswith("assumed"))

    def discharge_amps(self, raw: float) -> float:
        """Raw `current_now` to amperes, positive = discharging."""
        scale = 1e-6 if self.current_unit == "uA" else 1e-3
        return -self.charging_sign * raw * scale

    def to_extra(self) -> dict[str, str]:
        """Entries for `DeviceDescription.extra`."""
        return {
            "current_now_unit": self.current_unit,
            "current_now_unit_evidence": self.unit_evidence,
            "current_now_charging_sign": "positive" if self.charging_sign > 0 else "negative",
            "current_now_sign_evidence": self.sign_evidence,
        }


def detect_convention(readings: Iterable[RawPowerSupply], prior: CurrentConvention | None = None) -> CurrentConvention:
    """Decide unit and sign from readings; what `prior` already determined is kept as is.

    The sign needs a reading with a non-zero current whose status says "Charging" or
    "Discharging" ("Full" and "Not charging" carry no direction); readings vote, majority wins.
    """
    base = prior or CurrentConvention()
    nonzero = [r for r in readings if r.current_now]
    unit, unit_evidence = base.current_unit, base.unit_evidence
    if nonzero and unit_evidence.startswith("assumed"):
        peak = max(abs(r.current_now or 0.0) for r in nonzero)
        unit = "uA" if peak >= _UA_THRESHOLD else "mA"
        unit_evidence = f"max |current_now| {peak:g} over {len(nonzero)} readings"
    sign, sign_evidence = base.charging_sign, base.sign_evidence
    directed = [r for r in nonzero if (r.status or "").strip().lower() in (_CHARGING, _DISCHARGING)]
    if directed and sign_evidence.startswith("assumed"):
        votes = sum(_charging_sign_vote(r) for r in directed)
        if votes:
            sign = 1 if votes > 0 else -1
            sign_evidence = f"{len(directed)} readings with status Charging/Discharging, vote {votes:+d}"
    return CurrentConvention(unit, sign, unit_evidence, sign_evidence)


def _charging_sign_vote(reading: RawPowerSupply) -> int:
    raw = reading.current_now or 0.0
    charging = (reading.status or "").strip().lower() == _CHARGING
    positive = raw > 0
    return 1 if positive == charging else -1


def power_supply_samples(t_ns: int, reading: RawPowerSupply, convention: CurrentConvention) -> list[Sample]:
    """One raw power_supply reading to samples in the channel vocabulary of docs/architecture.md."""
    out: list[Sample] = []
    if reading.current_now is not None:
        out.append(Sample(t_ns, "fuel_gauge", "current", convention.discharge_amps(reading.current_now), "A"))
    if reading.voltage_now is not None:
        out.append(Sample(t_ns, "fuel_gauge", "voltage", _volts(reading.voltage_now), "V"))
    if reading.charge_counter:
        out.append(Sample(t_ns, "charge_counter", "charge", _amp_hours(reading.charge_counter), "Ah"))
    if reading.temp is not None:
        out.append(Sample(t_ns, "battery", "temp", reading.temp / 10.0, "C"))
    if reading.capacity is not None:
        out.append(Sample(t_ns, "battery", "level", reading.capacity, "%"))
    if reading.status is not None:
        # "Full" and "Not charging" mean plugged in: the charger, not the battery, feeds the phone.
        charging = reading.status.strip().lower() in (_CHARGING, "full", "not charging")
        out.append(Sample(t_ns, "battery", "charging", 1.0 if charging else 0.0, "bool"))
    return out


def _volts(raw: float) -> float:
    # power_supply ABI is uV; some vendor kernels print mV (3888 rather than 3888173).
    return raw / 1e6 if raw > 100_000 else raw / 1e3


def _amp_hours(raw: float) -> float:
    # ABI is uAh; a value below 100000 would be under 0.1 Ah in uAh, so it is mAh.
    return raw / 1e6 if raw >= 100_000 else raw / 1e3


def readings_extra(readings: Sequence[RawPowerSupply]) -> dict[str, str]:
    """Raw voltage unit seen, for the record (the current convention records itself)."""
    volts = [r.voltage_now for r in readings if r.voltage_now]
    if not volts:
        return {}
    return {"voltage_now_unit": "uV" if volts[0] > 100_000 else "mV"}
