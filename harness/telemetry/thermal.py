"""Parsers for Android thermal state: `dumpsys thermalservice` and /sys/class/thermal zones."""

from __future__ import annotations

import dataclasses
import re

from harness.telemetry._text import parse_bool

__all__ = ["ThermalDump", "Temperature", "parse_thermalservice", "zone_celsius"]

_TEMPERATURE = re.compile(
    r"Temperature\{\s*mValue=(?P<value>-?[0-9.]+(?:[eE][-+]?\d+)?|NaN)\s*,\s*mType=(?P<type>-?\d+)"
    r"\s*,\s*mName=(?P<name>[^,}]*?)\s*(?:,\s*mStatus=(?P<status>-?\d+)\s*)?\}"
)
_STATUS = re.compile(r"^\s*Thermal Status:\s*(\d+)", re.MULTILINE)
_OVERRIDE = re.compile(r"^\s*IsStatusOverride:\s*(\w+)", re.MULTILINE)
_CURRENT = "Current temperatures from HAL:"
_CACHED = "Cached temperatures:"


@dataclasses.dataclass(frozen=True)
class Temperature:
    """One `Temperature{...}` entry of the thermal HAL (Android `Temperature.Type` in `type`)."""

    name: str
    celsius: float
    type: int
    status: int | None


@dataclasses.dataclass(frozen=True)
class ThermalDump:
    """`dumpsys thermalservice`: status 0..6, whether a shell override is active, temperatures.

    `temperatures` come from "Current temperatures from HAL" when present (live values) and fall
    back to "Cached temperatures" (only refreshed on HAL callbacks, so often stale under load);
    `temperatures_source` says which.
    """

    status: int | None
    status_override: bool | None
    temperatures: tuple[Temperature, ...]
    temperatures_source: str  # "hal", "cached" or "none"


def parse_thermalservice(text: str) -> ThermalDump:
    """Parse `dumpsys thermalservice`.

    Sample lines (Shield TV): `Thermal Status: 0`, then under `Cached temperatures:` a line
    `        Temperature{mValue=36.0, mType=1, mName=GPU, mStatus=0}`. Android 9 has no mStatus;
    newer releases append cooling-device and threshold sections, which are not temperatures.
    """
    status = _STATUS.search(text)
    override = _OVERRIDE.search(text)
    current = _section(text, _CURRENT)
    cached = _section(text, _CACHED)
    if current:
        temps, source = current, "hal"
    elif cached:
        temps, source = cached, "cached"
    else:
        temps, source = (), "none"
    return ThermalDump(
        status=int(status.group(1)) if status else None,
        status_override=parse_bool(override.group(1)) if override else None,
        temperatures=temps,
        temperatures_source=source,
    )


def _section(text: str, header: str) -> tuple[Temperature, ...]:
    """Temperatures listed right after `header`, up to the first line that is not one."""
    start = text.find(header)
    if start < 0:
        return ()
    found: list[Temperature] = []
    for line in text[start + len(header) :].splitlines()[1:]:
        match = _TEMPERATURE.search(line)
        if match is None:
            if line.strip():
                break
            continue
        value = float(match["value"])
        if value != value:  # NaN: sensor not readable right now
            continue
        found.append(
            Temperature(
                name=match["name"],
                celsius=value,
                type=int(match["type"]),
                status=int(match["status"]) if match["status"] is not None else None,
            )
        )
    return tuple(found)


def zone_celsius(raw: str) -> float | None:
    """A thermal zone `temp` file to degrees C.

    Sample content: `45000` (millidegrees, the kernel ABI). A few old vendor kernels print whole
    degrees (`45`); values with magnitude below 1000 are taken as degrees. Non-numbers give None.
    """
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if abs(value) < 1000 else value / 1000.0
