"""Parser of the on-device sampler's output (android_sampler.sh) into normalised `Sample`s."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.errors import DeviceError
from harness.events import Sample
from harness.telemetry.battery import BatteryDump, RawPowerSupply, parse_dumpsys_battery, power_supply_from_files
from harness.telemetry.conventions import (
    BatteryUnits,
    CurrentConvention,
    UnitMemory,
    judge_units,
    power_supply_samples,
)
from harness.telemetry.odpm import parse_power_stats
from harness.telemetry.thermal import ThermalDump, parse_thermalservice, zone_celsius

__all__ = ["SAMPLER_SCRIPT", "SamplerOutput", "parse_sampler_output"]

SAMPLER_SCRIPT = Path(__file__).with_name("android_sampler.sh")


@dataclasses.dataclass(frozen=True)
class SamplerOutput:
    """Everything one sampler run produced."""

    samples: tuple[Sample, ...]
    readings: tuple[tuple[int, RawPowerSupply], ...]  # raw power_supply readings by t_ns
    convention: CurrentConvention  # as used for `samples` (this run's `units`)
    complete: bool  # the sampler wrote its final "@stop" reading
    thermal_source: str  # where temperatures came from: "hal", "cached" or "none"
    units: BatteryUnits  # how this run's raw readings were read, and why (see harness.telemetry.conventions)
    dumps: tuple[tuple[int, BatteryDump], ...] = ()  # `dumpsys battery` at the first and last reading
    expired: bool = False  # the sampler ended itself: its lease ran out (the host stopped renewing it)
    governors: tuple[tuple[str, str], ...] = ()  # (cpufreq policy, governor) as read at the start


def parse_sampler_output(text: str, memory: UnitMemory | None = None) -> SamplerOutput:
    """Parse the sampler file; raw units are decided from this run's readings (`memory`: what other runs on
    the device decided, only read here).

    Sample lines: `@t 437.56` (seconds of /proc/uptime, i.e. CLOCK_BOOTTIME, 10 ms resolution),
    `@ps current_now -326171`, `@tz thermal_zone3 45000`, `@cf policy4 2419200` (kHz: a `cpufreq` sample in
    Hz), `@gov policy4 schedutil`, `@begin odpm` ... `@end`, `@expired`.
    Thermal zones become `thermal/<zone type>`, HAL temperatures `thermal/hal:<name>`, so a zone and
    a HAL sensor with the same name stay apart; zones that share a type stay apart as
    `thermal/<type> (<zone>)`, e.g. `cpu (thermal_zone3)` and `cpu (thermal_zone4)`.
    """
    parser = _Parser()
    for line in text.splitlines():
        parser.feed(line)
    readings = tuple(parser.readings())
    units = judge_units(readings, parser.dumps, memory)
    convention = units.convention()
    counter_unit = units.counter_unit.unit if units.counter_unit else None
    samples = [s for t_ns, reading in readings for s in power_supply_samples(t_ns, reading, convention, counter_unit)]
    samples.extend(parser.other)
    samples.sort(key=lambda s: s.t_ns)
    return SamplerOutput(tuple(samples), readings, convention, parser.stopped, parser.thermal_source, units,
                         tuple(parser.dumps), parser.expired, tuple(parser.governors.items()))


class _Parser:
    def __init__(self) -> None:
        self.t_ns: int | None = None
        self.zone_types: dict[str, str] = {}
        self.ps: dict[int, dict[str, str]] = {}
        self.other: list[Sample] = []
        self.block: str | None = None
        self.block_lines: list[str] = []
        self.stopped = False
        self.expired = False
        self.dumps: list[tuple[int, BatteryDump]] = []
        self.thermal_source = "none"
        self.governors: dict[str, str] = {}

    def feed(self, line: str) -> None:
        if self.block is not None:
            if line.rstrip() == "@end":
                self._close_block()
            else:
                self.block_lines.append(line)
            return
        tag, _, rest = line.partition(" ")
        if tag == "@t":
            self.t_ns = _uptime_ns(rest)
        elif tag == "@zone":
            zone, _, kind = rest.partition(" ")
            self.zone_types[zone] = kind.strip() or zone
        elif tag == "@stop":
            self.stopped = True
        elif tag == "@expired":
            self.expired = True
        elif tag == "@gov":
            policy, _, governor = rest.partition(" ")
            self.governors[policy] = governor.strip()
        elif tag in ("@ps", "@tz", "@cf", "@begin"):
            self._timed(tag, rest)

    def _timed(self, tag: str, rest: str) -> None:
        if self.t_ns is None:
            raise DeviceError(f"sampler output has a reading before any timestamp: {tag} {rest}")
        if tag == "@begin":
            self.block, self.block_lines = rest.strip(), []
            return
        name, _, value = rest.partition(" ")
        if tag == "@ps":
            self.ps.setdefault(self.t_ns, {})[name] = value
            return
        if tag == "@cf":
            if value.strip().isdigit():
                self.other.append(Sample(self.t_ns, "cpufreq", name, int(value) * 1000.0, "Hz"))
            return
        celsius = zone_celsius(value)
        if celsius is not None:
            self.other.append(Sample(self.t_ns, "thermal", self._zone_channel(name), celsius, "C"))

    def _zone_channel(self, zone: str) -> str:
        kind = self.zone_types.get(zone, zone)
        shared = sum(k == kind for k in self.zone_types.values()) > 1
        return f"{kind} ({zone})" if shared else kind

    def _close_block(self) -> None:
        assert self.t_ns is not None and self.block is not None
        text = "\n".join(self.block_lines)
        if self.block == "thermalservice":
            dump = parse_thermalservice(text)
            self.other.extend(_thermal_samples(self.t_ns, dump))
            if dump.temperatures_source != "none":
                self.thermal_source = dump.temperatures_source
        elif self.block == "battery":
            self.dumps.append((self.t_ns, parse_dumpsys_battery(text)))
        elif self.block == "odpm":
            self.other.extend(Sample(self.t_ns, "odpm", r.rail, r.energy_j, "J") for r in parse_power_stats(text))
        self.block = None

    def readings(self) -> list[tuple[int, RawPowerSupply]]:
        return [(t_ns, power_supply_from_files(files)) for t_ns, files in sorted(self.ps.items())]


def _thermal_samples(t_ns: int, dump: ThermalDump) -> list[Sample]:
    out = [Sample(t_ns, "thermal", f"hal:{t.name}", t.celsius, "C") for t in dump.temperatures]
    if dump.status is not None:
        out.append(Sample(t_ns, "thermal", "status", float(dump.status), "level"))
    return out


def _uptime_ns(text: str) -> int:
    """`437.56` seconds to integer nanoseconds without float rounding."""
    whole, _, frac = text.strip().partition(".")
    try:
        return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])
    except ValueError as exc:
        raise DeviceError(f"sampler wrote a bad timestamp: {text!r}") from exc
