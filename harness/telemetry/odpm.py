"""Parser for the Pixel ODPM energy meters (`dumpsys android.hardware.power.stats.IPowerStats/default`)."""

from __future__ import annotations

import dataclasses
import re

__all__ = ["RailEnergy", "parse_power_stats"]

_METER_HEADER = "PowerStats HAL 2.0 energy meter"
_SECTION_END = "========"
# `  [S10M_VDD_TPU]:TPU      1039108.42 mWs (    344.69)`; the name is right-aligned by printf.
_ROW = re.compile(r"^\s*(?P<name>\S.*?)\s+(?P<mws>-?\d+(?:\.\d+)?)\s*mWs\b")


@dataclasses.dataclass(frozen=True)
class RailEnergy:
    """Cumulative energy of one rail since boot (joules); the HAL counts uWs, the dump prints mWs."""

    rail: str  # e.g. "[VSYS_PWR_DISPLAY]:Display"
    energy_j: float


def parse_power_stats(text: str) -> tuple[RailEnergy, ...]:
    """Rails of the "PowerStats HAL 2.0 energy meter" section, non-delta or delta form.

    Sample line: `       [VSYS_PWR_DISPLAY]:Display        1039108.42 mWs (    344.69)`.
    The header row ("Channel  Cumulative Energy") and other sections (state residencies, energy
    consumers, which also print mWs) are ignored. 1 mWs = 1e-3 J.
    """
    rails: list[RailEnergy] = []
    inside = False
    for line in text.splitlines():
        if _METER_HEADER in line and not line.lstrip("= ").startswith("End"):
            inside = True
            continue
        if inside and _SECTION_END in line:
            break
        match = _ROW.match(line) if inside else None
        if match:
            rails.append(RailEnergy(rail=match["name"], energy_j=float(match["mws"]) / 1e3))
    return tuple(rails)
