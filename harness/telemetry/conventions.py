"""Raw battery units and signs, decided per sampler run from evidence, and normalisation into SI samples.

Kernels disagree: `current_now` is uA by the power_supply ABI but mA on some vendor kernels, the sign
of a charging current is positive on most (ABI, BatteryManager) but negative on e.g. the Xiaomi Mi 8
Qualcomm kernel, and `charge_counter` is uAh by the ABI but mAh on some. No single reading decides a
unit: a phone drawing under ~20 mA (idle with the screen off, full on USB, a charge limit) reads
976 in uA, which is as plausible in mA. So every run (a job's sampler, a baseline, the description)
judges each candidate against that run's own evidence:

- `current_now` unit: a candidate is ruled out when at least a tenth of the run's non-zero readings
  would mean more battery power than a phone delivers (`PLAUSIBLE_W`, more while charging), when the
  median reading taken while discharging would mean under `PLAUSIBLE_W[0]`, or when the charge
  counter moved by enough quanta over the run and its slope disagrees with the mean current more
  than `AGREE` times;
- `charge_counter` unit: ruled out when the counter over the battery level implies a full battery
  outside `CAPACITY_AH`, or when `dumpsys battery`'s own `Charge counter` (framework uAh) disagrees;
- sign: readings whose status says Charging or Discharging vote.

Exactly one surviving candidate decides it (`DECIDED`). When both survive, a decision another run on
this device made from evidence (`UnitMemory`) holds (`EARLIER`), else it is `UNDECIDED`; no survivor,
or a decision that contradicts another run's, is a `CONFLICT`. Only decided units vouch for energy:
`BatteryUnits.invalid()` names the sources that an undecided or conflicting unit makes untrustworthy.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence

from harness.events import Sample
from harness.telemetry.battery import BatteryDump, RawPowerSupply

__all__ = [
    "AGREE",
    "CAPACITY_AH",
    "CONFLICT",
    "DECIDED",
    "EARLIER",
    "PLAUSIBLE_W",
    "UNDECIDED",
    "BatteryUnits",
    "CurrentConvention",
    "UnitMemory",
    "UnitVerdict",
    "detect_convention",
    "judge_units",
    "power_supply_samples",
    "readings_extra",
]

# Battery power while a phone runs (discharging): the sampler itself keeps it awake, so never under
# ~1 mW (260 uA at 3.85 V: 976 uA, 3.8 mW, stays possible), and no phone sustains over 30 W. A charging
# battery takes more (fast chargers), but never 200 W.
PLAUSIBLE_W = (0.001, 30.0)
CHARGING_W_MAX = 200.0
AGREE = 10.0  # the charge counter's slope and the mean current disagreeing by more: the unit is wrong
CAPACITY_AH = (0.3, 50.0)  # a full phone (or tablet, rugged phone) battery
NOMINAL_V = 3.85  # when a run has no voltage reading
_TOO_HIGH_SHARE = 0.1  # this share of readings over the bound rules a unit out
_MIN_QUANTA = 3  # the charge counter must move this many of its quanta to judge the current by
_MIN_LEVEL = 5.0  # %: below it the counter over the level is too noisy to judge a capacity

DECIDED, EARLIER, UNDECIDED, CONFLICT = "decided", "earlier", "undecided", "conflict"
CURRENT_UNIT, CURRENT_SIGN, COUNTER_UNIT = "current_now_unit", "current_now_sign", "charge_counter_unit"
_CURRENT_SCALE = {"uA": 1e-6, "mA": 1e-3}
_COUNTER_SCALE = {"uAh": 1e-6, "mAh": 1e-3}
_SIGNS = {"positive": 1, "negative": -1}
_CHARGING = "charging"
_DISCHARGING = "discharging"
_PLUGGED = (_CHARGING, "full", "not charging")
_NO_CURRENT = "no non-zero current_now reading"
_NO_DIRECTION = "no non-zero reading with status Charging or Discharging"


@dataclasses.dataclass(frozen=True)
class UnitVerdict:
    """How one run reads one raw quantity (`CURRENT_UNIT`, `CURRENT_SIGN`, `COUNTER_UNIT`).

    `unit` is what the samples were converted with (when not decided: another run's decision, else
    the kernel ABI's); `state` is DECIDED, EARLIER, UNDECIDED or CONFLICT; `evidence` says why.
    """

    quantity: str
    unit: str
    state: str
    evidence: str
    survivors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state in (DECIDED, EARLIER)

    def label(self) -> str:
        return self.unit if self.ok else f"{self.state} (read as {self.unit})"

    def resolve(self, memory: UnitMemory | None) -> UnitVerdict:
        """An undecided verdict read again against what runs on this device decided since."""
        if self.state != UNDECIDED or memory is None:
            return self
        decided = memory.decided(self.quantity)
        if not decided:
            return self
        if len(decided) == 1 and self.unit in decided:
            return dataclasses.replace(self, state=EARLIER, evidence=(
                f"{self.evidence}; consistent with this run, decided by another run on this device: "
                f"{decided[self.unit]}"))
        return dataclasses.replace(self, state=CONFLICT, evidence=(
            f"{self.evidence}; read as {self.unit}, but runs on this device decided " + _decisions(decided)))


class UnitMemory:
    """What runs on one device decided from their own evidence, by quantity: unit -> that run's evidence.

    A device opened once keeps one; every sampler run records its decisions, so a later run whose readings
    cannot decide (both units plausible) reads them as an earlier run decided, and one that contradicts an
    earlier decision is a conflict. Nothing is remembered from a guess.
    """

    def __init__(self) -> None:
        self._decided: dict[str, dict[str, str]] = {}

    @classmethod
    def from_convention(cls, prior: CurrentConvention | None) -> UnitMemory:
        """A memory holding what `prior` decided (DECIDED or EARLIER), as if an earlier run had."""
        memory = cls()
        if prior is not None:
            sign = "positive" if prior.charging_sign > 0 else "negative"
            for quantity, unit, state, why in (
                    (CURRENT_UNIT, prior.current_unit, prior.unit_state, prior.unit_evidence),
                    (CURRENT_SIGN, sign, prior.sign_state, prior.sign_evidence)):
                if state in (DECIDED, EARLIER):
                    memory.record(UnitVerdict(quantity, unit, DECIDED, why))
        return memory

    def decided(self, quantity: str) -> dict[str, str]:
        return dict(self._decided.get(quantity, {}))

    def record(self, verdict: UnitVerdict | None) -> None:
        """Keep what a run decided from its own evidence, also when that contradicts another run: from then on
        this device's runs disagree, and none is trusted for that quantity until the device is opened again."""
        if verdict is None:
            return
        if verdict.state == DECIDED or (verdict.state == CONFLICT and len(verdict.survivors) == 1):
            self._decided.setdefault(verdict.quantity, {}).setdefault(verdict.unit, verdict.evidence)


def _decisions(decided: Mapping[str, str]) -> str:
    return "; ".join(f"{unit} ({why})" for unit, why in decided.items())


def _verdict(quantity: str, ruled_out: Mapping[str, list[str]], notes: Sequence[str], memory: UnitMemory | None,
             default: str) -> UnitVerdict:
    """Candidates with no reason against them survive; decide as the module docstring says."""
    survivors = tuple(unit for unit, why in ruled_out.items() if not why)
    parts = [*notes, *(f"{unit} ruled out: {', '.join(why)}" for unit, why in ruled_out.items() if why)]
    evidence = "; ".join(parts)
    decided = memory.decided(quantity) if memory is not None else {}
    if len(survivors) == 1:
        unit = survivors[0]
        others = {u: why for u, why in decided.items() if u != unit}
        if others:
            return UnitVerdict(quantity, unit, CONFLICT,
                               f"{evidence}; contradicts another run on this device: {_decisions(others)}", survivors)
        return UnitVerdict(quantity, unit, DECIDED, evidence, survivors)
    fallback = next(iter(decided)) if len(decided) == 1 else default
    if not survivors:
        return UnitVerdict(quantity, fallback, CONFLICT, f"no unit fits: {evidence}", survivors)
    if len(decided) == 1:
        return UnitVerdict(quantity, fallback, EARLIER,
                           f"{evidence}; consistent with this run, decided earlier: {decided[fallback]}", survivors)
    if decided:
        return UnitVerdict(quantity, default, CONFLICT, f"{evidence}; runs on this device disagree: "
                           + _decisions(decided), survivors)
    return UnitVerdict(quantity, default, UNDECIDED, f"{evidence}; both plausible", survivors)


@dataclasses.dataclass(frozen=True)
class CurrentConvention:
    """How a device reports `current_now`, as one run (or the description) read it.

    `current_unit` is "uA" or "mA"; `charging_sign` is +1 when a charging current is positive (the
    kernel ABI), -1 when it is negative. `unit_state`/`sign_state` say whether evidence decided them
    (DECIDED, EARLIER) or not (UNDECIDED, CONFLICT: then the unit is the kernel ABI's or another run's);
    `*_evidence` say why.
    """

    current_unit: str = "uA"
    charging_sign: int = 1
    unit_evidence: str = f"{_NO_CURRENT}; both plausible"
    sign_evidence: str = f"{_NO_DIRECTION} (statuses: none); both plausible"
    unit_state: str = UNDECIDED
    sign_state: str = UNDECIDED

    @property
    def determined(self) -> bool:
        return self.unit_state in (DECIDED, EARLIER) and self.sign_state in (DECIDED, EARLIER)

    def discharge_amps(self, raw: float) -> float:
        """Raw `current_now` to amperes, positive = discharging."""
        return -self.charging_sign * raw * _CURRENT_SCALE[self.current_unit]

    def to_extra(self) -> dict[str, str]:
        """Entries for `DeviceDescription.extra` ("undecided"/"conflict" when evidence did not decide)."""
        unit_ok, sign_ok = self.unit_state in (DECIDED, EARLIER), self.sign_state in (DECIDED, EARLIER)
        return {
            "current_now_unit": self.current_unit if unit_ok else self.unit_state,
            "current_now_unit_evidence": self.unit_evidence,
            "current_now_charging_sign": ("positive" if self.charging_sign > 0 else "negative") if sign_ok
            else self.sign_state,
            "current_now_sign_evidence": self.sign_evidence,
        }


@dataclasses.dataclass(frozen=True)
class BatteryUnits:
    """Everything one run decided about its raw battery readings."""

    current_unit: UnitVerdict
    sign: UnitVerdict
    counter_unit: UnitVerdict | None  # None: no charge counter readings

    def convention(self) -> CurrentConvention:
        return CurrentConvention(self.current_unit.unit, _SIGNS[self.sign.unit], self.current_unit.evidence,
                                 self.sign.evidence, self.current_unit.state, self.sign.state)

    def resolve(self, memory: UnitMemory | None) -> BatteryUnits:
        counter = self.counter_unit.resolve(memory) if self.counter_unit else None
        return BatteryUnits(self.current_unit.resolve(memory), self.sign.resolve(memory), counter)

    def record(self, memory: UnitMemory) -> None:
        for verdict in (self.current_unit, self.sign, self.counter_unit):
            memory.record(verdict)

    def invalid(self) -> dict[str, str]:
        """Energy sources these units cannot vouch for: source -> reason."""
        out: dict[str, str] = {}
        bad = [v for v in (self.current_unit, self.sign) if not v.ok]
        if bad:
            out["fuel_gauge"] = "; ".join(f"{v.quantity} {v.state}: {v.evidence}" for v in bad)
        if self.counter_unit is not None and not self.counter_unit.ok:
            out["charge_counter"] = f"{COUNTER_UNIT} {self.counter_unit.state}: {self.counter_unit.evidence}"
        return out

    def evidence(self) -> dict[str, str]:
        """Short strings for the job's record: each quantity as read, and why."""
        out: dict[str, str] = {}
        for verdict in (self.current_unit, self.sign, self.counter_unit):
            if verdict is not None:
                out[verdict.quantity] = verdict.label()
                out[f"{verdict.quantity}_evidence"] = verdict.evidence
        return out


def judge_units(readings: Sequence[tuple[int, RawPowerSupply]], dumps: Sequence[tuple[int, BatteryDump]] = (),
                memory: UnitMemory | None = None) -> BatteryUnits:
    """Decide one run's units and sign from its readings (by t_ns) and `dumpsys battery` figures.

    `memory` (what other runs on the device decided) is only read here; record the result with
    `BatteryUnits.record` once the run is done.
    """
    counter = _judge_counter_unit(readings, dumps, memory)
    return BatteryUnits(_judge_current_unit(readings, dumps, counter, memory), _judge_sign(readings, memory), counter)


def _volts(raw: float) -> float:
    # power_supply ABI is uV; some vendor kernels print mV (3888 rather than 3888173).
    return raw / 1e6 if raw > 100_000 else raw / 1e3


def _status(reading: RawPowerSupply) -> str:
    return (reading.status or "").strip().lower()


def _judge_current_unit(readings: Sequence[tuple[int, RawPowerSupply]], dumps: Sequence[tuple[int, BatteryDump]],
                        counter: UnitVerdict | None, memory: UnitMemory | None) -> UnitVerdict:
    nonzero = [(t, r) for t, r in readings if r.current_now]
    ruled_out: dict[str, list[str]] = {unit: [] for unit in _CURRENT_SCALE}
    if not nonzero:
        return _verdict(CURRENT_UNIT, ruled_out, [_NO_CURRENT], memory, "uA")
    fallback_v = next((d.voltage_v for _, d in dumps if d.voltage_v), None) or NOMINAL_V
    volts = [_volts(r.voltage_now) if r.voltage_now else fallback_v for _, r in nonzero]
    raw = [abs(r.current_now or 0.0) for _, r in nonzero]
    notes = [f"{len(raw)} readings, median |current_now| {statistics.median(raw):g} at "
             f"{statistics.median(volts):.3g} V"]
    for unit, scale in _CURRENT_SCALE.items():
        watts = [i * scale * v for i, v in zip(raw, volts)]
        over = [w for w, (_, r) in zip(watts, nonzero)
                if w > (CHARGING_W_MAX if _status(r) in _PLUGGED else PLAUSIBLE_W[1])]
        if len(over) >= max(1, math.ceil(_TOO_HIGH_SHARE * len(watts))):
            ruled_out[unit].append(f"{len(over)} of {len(watts)} readings imply over {PLAUSIBLE_W[1]:g} W "
                                   f"(up to {max(over):.3g} W)")
        discharging = [w for w, (_, r) in zip(watts, nonzero) if _status(r) == _DISCHARGING]
        if discharging and statistics.median(discharging) < PLAUSIBLE_W[0]:
            ruled_out[unit].append(f"discharging at a median {statistics.median(discharging) * 1e3:.3g} mW, "
                                   f"under {PLAUSIBLE_W[0] * 1e3:g} mW")
    slope = _counter_amps(readings, counter)
    if isinstance(slope, str):
        notes.append(slope)
    else:
        amps, why = slope
        mean_raw = abs(statistics.fmean(r.current_now or 0.0 for _, r in nonzero))
        notes.append(why)
        for unit, scale in _CURRENT_SCALE.items():
            ratio = mean_raw * scale / amps
            if not 1 / AGREE <= ratio <= AGREE:
                ruled_out[unit].append(f"mean {mean_raw * scale:.3g} A is {ratio:.3g}x the charge counter's")
    return _verdict(CURRENT_UNIT, ruled_out, notes, memory, "uA")


def _counter_amps(readings: Sequence[tuple[int, RawPowerSupply]], counter: UnitVerdict | None
                  ) -> tuple[float, str] | str:
    """Mean current (A) the charge counter's slope implies over the run, with its evidence; or why not."""
    points = [(t, r.charge_counter) for t, r in readings if r.charge_counter]
    if counter is None or len(points) < 2:
        return "no charge counter to check against"
    if not counter.ok:
        return f"charge counter unit {counter.state}: not used"
    distinct = sorted({q for _, q in points})
    moved = abs(points[-1][1] - points[0][1])
    quantum = min((b - a for a, b in zip(distinct, distinct[1:])), default=0.0)
    seconds = (points[-1][0] - points[0][0]) / 1e9
    if quantum <= 0 or moved < _MIN_QUANTA * quantum or seconds <= 0:
        return f"charge counter moved {moved:g} over {seconds:.3g} s: too little to judge by"
    amps = moved * _COUNTER_SCALE[counter.unit] * 3600.0 / seconds
    return amps, f"charge counter slope {amps:.3g} A over {seconds:.3g} s ({moved / quantum:.0f} quanta)"


def _judge_counter_unit(readings: Sequence[tuple[int, RawPowerSupply]], dumps: Sequence[tuple[int, BatteryDump]],
                        memory: UnitMemory | None) -> UnitVerdict | None:
    points = [(t, r) for t, r in readings if r.charge_counter]
    if not points:
        return None
    ruled_out: dict[str, list[str]] = {unit: [] for unit in _COUNTER_SCALE}
    notes: list[str] = []
    levelled = [(r.charge_counter or 0.0, r.capacity) for _, r in points if r.capacity]
    dump_level = next((d.level for _, d in dumps if d.level), None)
    raw, level = levelled[-1] if levelled else (points[-1][1].charge_counter or 0.0, dump_level)
    if level is not None and level >= _MIN_LEVEL:
        notes.append(f"charge_counter {raw:g} at {level:g}%")
        for unit, scale in _COUNTER_SCALE.items():
            full = raw * scale / (level / 100.0)
            if not CAPACITY_AH[0] <= full <= CAPACITY_AH[1]:
                ruled_out[unit].append(f"implies a {full:.3g} Ah battery")
    for t_dump, dump in dumps:
        if not dump.charge_counter_uah:
            continue
        near = min(points, key=lambda p: abs(p[0] - t_dump))[1].charge_counter or 0.0
        notes.append(f"dumpsys battery Charge counter {dump.charge_counter_uah:g} uAh")
        for unit, scale in _COUNTER_SCALE.items():
            ratio = dump.charge_counter_uah * 1e-6 / (near * scale)
            if not 0.5 <= ratio <= 2.0:
                ruled_out[unit].append(f"dumpsys battery says {ratio:.3g}x as much")
        break  # the first dump is enough: the counter barely moves between the two
    if not notes:
        notes.append("no battery level or dumpsys figure to judge the charge counter by")
    return _verdict(COUNTER_UNIT, ruled_out, notes, memory, "uAh")


def _judge_sign(readings: Sequence[tuple[int, RawPowerSupply]], memory: UnitMemory | None) -> UnitVerdict:
    directed = [r for _, r in readings if r.current_now and _status(r) in (_CHARGING, _DISCHARGING)]
    ruled_out: dict[str, list[str]] = {sign: [] for sign in _SIGNS}
    if not directed:
        statuses = sorted({r.status.strip() for _, r in readings if r.status}) or ["none"]
        return _verdict(CURRENT_SIGN, ruled_out, [f"{_NO_DIRECTION} (statuses: {', '.join(statuses)})"], memory,
                        "positive")
    votes = sum(_charging_sign_vote(r) for r in directed)
    notes = [f"{len(directed)} readings with status Charging/Discharging, vote {votes:+d}"]
    if votes:
        ruled_out["negative" if votes > 0 else "positive"].append("outvoted")
    return _verdict(CURRENT_SIGN, ruled_out, notes, memory, "positive")


def _charging_sign_vote(reading: RawPowerSupply) -> int:
    raw = reading.current_now or 0.0
    charging = _status(reading) == _CHARGING
    positive = raw > 0
    return 1 if positive == charging else -1


def detect_convention(readings: Iterable[RawPowerSupply], prior: CurrentConvention | None = None) -> CurrentConvention:
    """The convention untimed readings decide (no charge counter slope); `prior`'s decisions count as an
    earlier run's."""
    memory = UnitMemory.from_convention(prior)
    timed = list(enumerate(readings))
    return BatteryUnits(_judge_current_unit(timed, (), None, memory), _judge_sign(timed, memory), None).convention()


def power_supply_samples(t_ns: int, reading: RawPowerSupply, convention: CurrentConvention,
                         counter_unit: str | None = None) -> list[Sample]:
    """One raw power_supply reading to samples in the channel vocabulary of docs/architecture.md.

    `counter_unit` ("uAh"/"mAh") as a run decided it; None reads the counter by its magnitude.
    """
    out: list[Sample] = []
    if reading.current_now is not None:
        out.append(Sample(t_ns, "fuel_gauge", "current", convention.discharge_amps(reading.current_now), "A"))
    if reading.voltage_now is not None:
        out.append(Sample(t_ns, "fuel_gauge", "voltage", _volts(reading.voltage_now), "V"))
    if reading.charge_counter:
        scale = _COUNTER_SCALE.get(counter_unit or "", None)
        charge = reading.charge_counter * scale if scale else _amp_hours(reading.charge_counter)
        out.append(Sample(t_ns, "charge_counter", "charge", charge, "Ah"))
    if reading.temp is not None:
        out.append(Sample(t_ns, "battery", "temp", reading.temp / 10.0, "C"))
    if reading.capacity is not None:
        out.append(Sample(t_ns, "battery", "level", reading.capacity, "%"))
    if reading.status is not None:
        # "Full" and "Not charging" mean plugged in: the charger, not the battery, feeds the phone.
        charging = _status(reading) in _PLUGGED
        out.append(Sample(t_ns, "battery", "charging", 1.0 if charging else 0.0, "bool"))
    return out


def _amp_hours(raw: float) -> float:
    # ABI is uAh; a value below 100000 would be under 0.1 Ah in uAh, so it is mAh.
    return raw / 1e6 if raw >= 100_000 else raw / 1e3


def readings_extra(readings: Sequence[RawPowerSupply]) -> dict[str, str]:
    """Raw voltage unit seen, for the record (the current convention records itself)."""
    volts = [r.voltage_now for r in readings if r.voltage_now]
    if not volts:
        return {}
    return {"voltage_now_unit": "uV" if volts[0] > 100_000 else "mV"}
