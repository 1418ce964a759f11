"""Energy of a job from raw telemetry samples: integrate or difference, subtract a baseline, judge.

How each source of docs/architecture.md becomes joules:

- `fuel_gauge`, `iopm` (iOS): power = voltage × current (A, positive = discharging), trapezoid over time;
- any channel in `W` (e.g. `model:<profile>` power): trapezoid over time, summed over channels;
- cumulative `J` counters (`odpm` rails, `rapl` domains, modelled energy): differenced, unwrapped,
  summed over channels (RAPL: `psys` alone, else `package-*` + `dram*`, because `core` and `uncore`
  are inside `package`);
- `charge_counter` (Ah, falls while discharging): charge drawn × fuel-gauge voltage.

Every estimate names its source, whether it is measured or modelled (`model:*`), the observed sampling
rate and the sensor resolution, and has a status: `ok`, `unresolvable` (too short or too small to tell
apart from nothing), `invalid` (e.g. fuel gauge while charging) or `unavailable` (no samples).
Only `ok` carries joules; an unresolvable job is never reported as 0.

Uncertainty (J) has three parts, combined as a root sum of squares:
- sampling: power traces `Σ dt·|ΔP|/2` (how far the trapezoid can be from the left or right rectangle
  rule, 0 for constant or linear power between samples); counters: half the energy of each counter
  interval only partly inside the job window; charge counter adds the voltage spread;
- resolution: counters one quantum per channel; power traces half a quantum of power over the duration;
- baseline: standard error of the idle power mean × job duration.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.events import EnergySource, EventLog, Sample, measured

__all__ = [
    "OK",
    "UNRESOLVABLE",
    "INVALID",
    "UNAVAILABLE",
    "Baseline",
    "EnergyEstimate",
    "measure_baseline",
    "estimate_energy",
    "energy_columns",
    "job_energy",
    "measured_window",
    "parse_resolution",
    "trapezoid_j",
    "unwrap_counter",
]

OK, UNRESOLVABLE, INVALID, UNAVAILABLE = "ok", "unresolvable", "invalid", "unavailable"

# A job must span this many sampling intervals to be integrated at all.
MIN_INTERVALS = 2
# Counters reported in these units when the device does not say (sysfs/HAL native units).
_DEFAULT_RESOLUTION = {"rapl": (1e-6, "J"), "odpm": (1e-6, "J"), "charge_counter": (1e-6, "Ah"),
                       "fuel_gauge": (1e-6, "A"), "iopm": (1e-3, "A")}
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9}
_FUEL_GAUGED = ("fuel_gauge", "charge_counter", "iopm")  # battery gauges USB power corrupts (iopm: iOS)
# What a phone's battery can deliver while it runs a job: from deep idle (a few mW) to a flagship at full
# tilt (~25 W). A battery figure outside it comes from a misread raw unit (uA taken as mA, mAh as uAh).
PHONE_W = (0.005, 30.0)
_AGREE = 10.0  # fuel gauge and charge counter disagreeing by more than this factor: a unit is misread


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Idle power of one source, measured on the same device right before a job."""

    source: str
    power_w: float  # mean idle power
    se_w: float  # standard error of that mean (spread of per-interval power / sqrt(n))
    duration_s: float
    n_intervals: int


@dataclasses.dataclass(frozen=True)
class EnergyEstimate:
    """Energy of one job window from one source; `joules` is net of the baseline when one was given."""

    source: str
    kind: str  # "measured" or "modelled"
    status: str  # OK, UNRESOLVABLE, INVALID, UNAVAILABLE
    reason: str = ""
    duration_s: float = 0.0
    joules: float | None = None  # only when status is OK
    uncertainty_j: float | None = None
    gross_j: float | None = None  # before baseline subtraction
    baseline_w: float | None = None
    u_sampling_j: float | None = None
    u_resolution_j: float | None = None
    u_baseline_j: float | None = None
    rate_hz: float | None = None  # observed sampling rate
    resolution: float | None = None  # sensor quantum, in `resolution_unit`
    resolution_unit: str = ""
    channels: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == OK

    def per(self, count: int) -> tuple[float | None, float | None]:
        """Joules and uncertainty per item (inference, training step); None unless OK."""
        if not self.ok or count <= 0:
            return None, None
        return self.joules / count, self.uncertainty_j / count

    def to_columns(self, prefix: str = "energy_") -> dict[str, Any]:
        """Flat columns for a results table (lists become comma-joined text)."""
        row = dataclasses.asdict(self)
        row["channels"] = ",".join(self.channels)
        return {f"{prefix}{key}": value for key, value in row.items()}


def parse_resolution(text: str) -> tuple[float, str] | None:
    """'1 uJ' -> (1e-6, 'J'); '0.5 mAh' -> (5e-4, 'Ah'); '' -> None."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kmuµn]?)(J|Ah|A|W|V)\s*", text or "")
    if not match:
        return None
    return float(match.group(1)) * _PREFIX[match.group(2)], match.group(3)


def trapezoid_j(t_s: np.ndarray, p_w: np.ndarray, t0_s: float, t1_s: float) -> tuple[float, float]:
    """Energy of piecewise-linear power over [t0, t1] (edges interpolated) and its sampling bound."""
    inside = (t_s > t0_s) & (t_s < t1_s)
    t = np.concatenate(([t0_s], t_s[inside], [t1_s]))
    p = np.concatenate(([np.interp(t0_s, t_s, p_w)], p_w[inside], [np.interp(t1_s, t_s, p_w)]))
    dt = np.diff(t)
    return float(np.sum(dt * (p[1:] + p[:-1]) / 2)), float(np.sum(dt * np.abs(np.diff(p))) / 2)


def unwrap_counter(values: np.ndarray, wrap: float | None) -> np.ndarray | None:
    """Cumulative increase since the first reading; a drop adds `wrap`. None if it drops and wrap is unknown."""
    steps = np.diff(values)
    drops = steps < 0
    if drops.any():
        if wrap is None:
            return None
        steps = np.where(drops, steps + wrap, steps)
    return np.concatenate(([0.0], np.cumsum(steps)))


@dataclasses.dataclass(frozen=True)
class _Trace:
    """One source reduced to arrays: power (W) or cumulative energy (J) on a common time axis."""

    cumulative: bool
    t_s: np.ndarray
    y: np.ndarray
    channels: tuple[str, ...]
    resolution: float | None  # source unit
    resolution_unit: str
    u_res_j: float  # counters: absolute; power: per second of window
    u_extra_rel: float = 0.0  # charge counter: relative spread of voltage


def _series(samples: Iterable[Sample] | Any) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, str]]:
    """Group samples (a list of `Sample` or a DataFrame with the same columns) by (source, channel)."""
    if hasattr(samples, "groupby"):
        rows = samples.sort_values("t_ns", kind="stable")
        return {key: (g["t_ns"].to_numpy(np.int64), g["value"].to_numpy(float), str(g["unit"].iloc[0]))
                for key, g in rows.groupby(["source", "channel"], sort=True)}
    grouped: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.source, sample.channel), []).append(sample)
    out = {}
    for key, items in grouped.items():
        items.sort(key=lambda s: s.t_ns)
        out[key] = (np.array([s.t_ns for s in items], np.int64), np.array([s.value for s in items], float),
                    items[0].unit)
    return out


def _observed_quantum(values: np.ndarray) -> float | None:
    """Smallest step between distinct readings: an upper bound of a level sensor's quantum."""
    distinct = np.unique(values)
    return float(np.min(np.diff(distinct))) if distinct.size > 1 else None


def _resolution(source: str, declared: tuple[float, str] | None, values: np.ndarray | None) -> tuple[float | None, str]:
    """Declared resolution, else the native default; level sensors take the coarser observed quantum."""
    value, unit = declared or _DEFAULT_RESOLUTION.get(source, (None, ""))
    if values is not None:
        seen = _observed_quantum(values)
        if seen is not None and (value is None or seen > value):
            value = seen
    return value, unit


def _rapl_channels(names: Sequence[str]) -> list[str]:
    if "psys" in names:
        return ["psys"]
    top = [n for n in names if n.startswith(("package", "dram"))]
    return top or list(names)


def _common_axis(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum series sampled at (possibly) different times on the union of their timestamps."""
    t = np.unique(np.concatenate([p[0] for p in parts]))
    return t, np.sum([np.interp(t, pt, py) for pt, py in parts], axis=0)


def _trace(series: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray, str]], source: str,
           declared: tuple[float, str] | None, wrap_j: float | None) -> _Trace | str:
    """Reduce one source to a `_Trace`, or return why it cannot be (unavailable/invalid reason)."""
    mine = {ch: s for (src, ch), s in series.items() if src == source}
    if source in ("fuel_gauge", "iopm"):
        if "current" not in mine or "voltage" not in mine:
            return f"unavailable: {source} needs both current and voltage samples"
        (ti, current, _), (tv, volts, _) = mine["current"], mine["voltage"]
        t = ti / 1e9
        v = np.interp(t, tv / 1e9, volts)
        q, unit = _resolution(source, declared, current)
        return _Trace(False, t, current * v, ("current", "voltage"), q, unit, 0.5 * (q or 0.0) * float(np.mean(v)))
    if source == "charge_counter":
        if "charge" not in mine:
            return "unavailable: no charge_counter charge samples"
        volts = series.get(("fuel_gauge", "voltage"))
        if volts is None:
            return "unavailable: charge_counter needs fuel_gauge voltage samples to turn Ah into J"
        tq, charge, _ = mine["charge"]
        t = tq / 1e9
        v = np.interp(t, volts[0] / 1e9, volts[1])
        drawn_j = -np.diff(charge) * 3600.0 * (v[1:] + v[:-1]) / 2
        q, unit = _resolution(source, declared, charge)
        rel = float(np.std(volts[1]) / np.mean(volts[1])) if volts[1].size > 1 else 0.0
        return _Trace(True, t, np.concatenate(([0.0], np.cumsum(drawn_j))), ("charge",), q, unit,
                      (q or 0.0) * 3600.0 * float(np.mean(v)), rel)
    if not mine:
        return f"unavailable: no {source} samples"
    units = {unit for _, _, unit in mine.values()}
    if units == {"W"}:
        t, p = _common_axis([(ts / 1e9, vs) for ts, vs, _ in mine.values()])
        q, unit = _resolution(source, declared, None)
        return _Trace(False, t, p, tuple(sorted(mine)), q, unit, 0.5 * (q or 0.0) * len(mine))
    if units == {"J"}:
        names = _rapl_channels(sorted(mine)) if source == "rapl" else sorted(mine)
        parts = []
        for name in names:
            ts, vs, _ = mine[name]
            cumulative = unwrap_counter(vs, wrap_j)
            if cumulative is None:
                return f"invalid: {source} {name} went backwards (wrap or reset) and its wrap range is unknown"
            parts.append((ts / 1e9, cumulative))
        t, e = _common_axis(parts)
        q, unit = _resolution(source, declared, None)
        return _Trace(True, t, e, tuple(names), q, unit, (q or 0.0) * len(names))
    return f"unavailable: {source} has units {sorted(units)}; expected W, J or the fuel-gauge channels"


def _kind(source: str) -> str:
    return "modelled" if source.startswith("model:") else "measured"


def _source_args(source: EnergySource | str) -> tuple[str, tuple[float, str] | None]:
    if isinstance(source, EnergySource):
        return source.name, parse_resolution(source.resolution)
    return source, None


def measure_baseline(samples: Iterable[Sample] | Any, source: EnergySource | str,
                     wrap_j: float | None = None) -> Baseline | None:
    """Mean idle power over all given samples and its standard error; None if under two intervals."""
    name, declared = _source_args(source)
    trace = _trace(_series(samples), name, declared, wrap_j)
    if isinstance(trace, str) or trace.t_s.size < 3:
        return None
    dt = np.diff(trace.t_s)
    if trace.cumulative:
        energy = np.diff(trace.y)
    else:
        energy = dt * (trace.y[1:] + trace.y[:-1]) / 2
    keep = dt > 0
    power = energy[keep] / dt[keep]
    total_s = float(np.sum(dt[keep]))
    return Baseline(name, float(np.sum(energy[keep]) / total_s),
                    float(np.std(power, ddof=1) / math.sqrt(power.size)), total_s, int(power.size))


def _charging(series: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray, str]], t0_ns: int, t1_ns: int) -> bool:
    found = series.get(("battery", "charging"))
    if found is None:
        return False
    t, v, _ = found
    # the last reading before the window still holds at its start
    first = max(int(np.searchsorted(t, t0_ns, side="right")) - 1, 0)
    last = int(np.searchsorted(t, t1_ns, side="right"))
    return bool(np.any(v[first:last] >= 0.5))


def _edge_uncertainty(t: np.ndarray, e: np.ndarray, t0: float, t1: float) -> float:
    """Half the energy of each counter interval that the window edges cut through."""
    u = 0.0
    for edge in (t0, t1):
        i = int(np.searchsorted(t, edge, side="right")) - 1
        if 0 <= i < t.size - 1 and t[i] < edge:
            u += 0.5 * abs(e[i + 1] - e[i])
    return u


def estimate_energy(samples: Iterable[Sample] | Any, t0_ns: int, t1_ns: int, source: EnergySource | str,
                    baseline: Baseline | None = None, wrap_j: float | None = None) -> EnergyEstimate:
    """Energy of the window [t0_ns, t1_ns] (device monotonic clock) from one source, net of `baseline`."""
    name, declared = _source_args(source)
    duration = (t1_ns - t0_ns) / 1e9
    base = dict(source=name, kind=_kind(name), duration_s=duration)
    if isinstance(source, EnergySource) and not source.available:
        return EnergyEstimate(**base, status=UNAVAILABLE, reason=source.reason or f"{name} not available")
    series = _series(samples)
    if name in _FUEL_GAUGED and _charging(series, t0_ns, t1_ns):
        return EnergyEstimate(**base, status=INVALID,
                              reason="device was charging: USB power corrupts fuel-gauge readings")
    trace = _trace(series, name, declared, wrap_j)
    if isinstance(trace, str):
        status, _, reason = trace.partition(": ")
        return EnergyEstimate(**base, status=status, reason=reason)
    interval = float(np.median(np.diff(trace.t_s))) if trace.t_s.size > 1 else math.inf
    base.update(rate_hz=1 / interval if 0 < interval < math.inf else None, resolution=trace.resolution,
                resolution_unit=trace.resolution_unit, channels=trace.channels)
    t0, t1 = t0_ns / 1e9, t1_ns / 1e9
    if trace.t_s.size < 2 or t0 < trace.t_s[0] or t1 > trace.t_s[-1]:
        return EnergyEstimate(**base, status=UNRESOLVABLE, reason="telemetry does not cover the whole job window")
    if duration < MIN_INTERVALS * interval:
        return EnergyEstimate(**base, status=UNRESOLVABLE, reason=(
            f"job lasted {duration * 1e3:.0f} ms, under {MIN_INTERVALS} sampling intervals of "
            f"{interval * 1e3:.0f} ms; ask for min_duration_s >= {10 * interval:.1f}"))
    if trace.cumulative:
        e0, e1 = np.interp([t0, t1], trace.t_s, trace.y)
        gross = float(e1 - e0)
        u_samp = math.hypot(_edge_uncertainty(trace.t_s, trace.y, t0, t1), gross * trace.u_extra_rel)
        u_res = trace.u_res_j
    else:
        gross, u_samp = trapezoid_j(trace.t_s, trace.y, t0, t1)
        u_res = trace.u_res_j * duration
    u_base = baseline.se_w * duration if baseline is not None else 0.0
    net = gross - baseline.power_w * duration if baseline is not None else gross
    total_u = math.sqrt(u_samp**2 + u_res**2 + u_base**2)
    base.update(gross_j=gross, baseline_w=baseline.power_w if baseline else None, u_sampling_j=u_samp,
                u_resolution_j=u_res, u_baseline_j=u_base)
    if trace.cumulative and gross == 0.0:
        return EnergyEstimate(**base, status=UNRESOLVABLE, reason=(
            f"{name} did not change during the {duration:.2f} s job; run longer (min_duration_s)"))
    if name in _FUEL_GAUGED and not PHONE_W[0] <= gross / duration <= PHONE_W[1]:
        return EnergyEstimate(**base, status=INVALID, reason=(
            f"{name} implies {gross / duration:.3g} W over the job, outside what a phone's battery delivers "
            f"({PHONE_W[0]:g}-{PHONE_W[1]:g} W): its raw unit or sign is misread (see the device's "
            "current_now_unit_evidence)"))
    if total_u > 0 and abs(net) <= total_u:
        return EnergyEstimate(**base, status=UNRESOLVABLE, uncertainty_j=total_u, reason=(
            f"net energy {net:.3g} J is within its uncertainty ±{total_u:.2g} J; "
            + _advice(u_samp, u_res, u_base, trace.cumulative)))
    if net < 0:
        assert baseline is not None  # a gross energy is never negative
        return EnergyEstimate(**base, status=UNRESOLVABLE, uncertainty_j=total_u, reason=(
            f"net energy {net:.3g} J ± {total_u:.2g} J is below zero: the idle baseline "
            f"({baseline.power_w:.3g} W) was busier than the job ({gross / duration:.3g} W); measure the "
            "baseline on a quiet device, longer (baseline_s), or use a source that needs none (ODPM rails)"))
    return EnergyEstimate(**base, status=OK, joules=net, uncertainty_j=total_u)


def _advice(u_sampling: float, u_resolution: float, u_baseline: float, cumulative: bool) -> str:
    """What narrows an unresolved net energy, from its largest uncertainty part.

    A power trace's sampling and resolution parts grow with the job, as does the baseline part of any
    source, so "run longer" helps only a cumulative counter's edges and quantum.
    """
    largest = max((u_sampling, "sampling"), (u_resolution, "resolution"), (u_baseline, "baseline"))[1]
    if largest == "baseline":
        return "the idle baseline's spread dominates: a longer baseline (baseline_s) on a quiet device narrows it"
    if cumulative:
        return f"the counter's {largest} dominates: a longer job (min_duration_s) narrows it"
    return (f"the trace's {largest} dominates and grows with the job, so running longer does not help: "
            "use a finer, faster source (ODPM rails)")


def measured_window(events: EventLog | Iterable[Mapping[str, Any]]) -> tuple[int, int, int] | None:
    """(start_ns, end_ns, count) spanned by the measured (non-warm-up) invokes or train steps."""
    return (events if isinstance(events, EventLog) else EventLog.of(measured(events))).window()


# Preferred first: direct rail/package counters, then the battery's own gauges, then models.
_PREFERENCE = ("odpm", "rapl", "iopm", "fuel_gauge", "charge_counter")


def _rank(source: EnergySource) -> int:
    return _PREFERENCE.index(source.name) if source.name in _PREFERENCE else len(_PREFERENCE)


def job_energy(sources: Sequence[EnergySource], idle: Sequence[Sample], samples: Sequence[Sample],
               events: EventLog | Sequence[Mapping[str, Any]], invalid: Mapping[str, str] | None = None
               ) -> tuple[EnergyEstimate, int]:
    """The best estimate of a job's measured span over the device's sources, and the item count.

    The first source (in preference order) that resolves wins; if none does, the first available
    source's estimate says why (unresolvable, invalid), so the reason reaches the results. A source in
    `invalid` (source -> reason, from the samplers: e.g. a raw unit its readings could not decide) is
    never trusted.
    """
    invalid = invalid or {}
    window = measured_window(events)
    if window is None:
        return EnergyEstimate("", "measured", UNAVAILABLE, "the job has no measured invokes or steps"), 0
    t0, t1, count = window
    estimates = []
    for source in sorted(sources, key=_rank):
        baseline = measure_baseline(idle, source, source.counter_wrap) if source.available else None
        estimate = estimate_energy(samples, t0, t1, source, baseline, source.counter_wrap)
        if source.name in invalid and estimate.status != UNAVAILABLE:
            estimate = dataclasses.replace(estimate, status=INVALID, reason=invalid[source.name], joules=None)
        estimates.append(estimate)
    if not estimates:
        return EnergyEstimate("", "measured", UNAVAILABLE, "the device describes no energy source",
                              duration_s=(t1 - t0) / 1e9), count
    estimates = _cross_check(estimates)
    best = next((e for e in estimates if e.ok), None) or next(
        (e for e in estimates if e.status != UNAVAILABLE), estimates[0])
    return best, count


def _cross_check(estimates: list[EnergyEstimate]) -> list[EnergyEstimate]:
    """The fuel gauge and the charge counter measure one battery: when both resolved and disagree by more
    than `_AGREE` times, one misreads its unit, so neither is trusted."""
    by_name = {e.source: e for e in estimates}
    gauge, counter = by_name.get("fuel_gauge"), by_name.get("charge_counter")
    if gauge is None or counter is None or not (gauge.gross_j and counter.gross_j) or not (gauge.ok or counter.ok):
        return estimates
    ratio = gauge.gross_j / counter.gross_j
    if 1 / _AGREE <= ratio <= _AGREE:
        return estimates
    reason = (f"fuel_gauge ({gauge.gross_j:.3g} J) and charge_counter ({counter.gross_j:.3g} J) disagree "
              f"{ratio:.3g}-fold over the job: one of their raw units is misread")
    return [dataclasses.replace(e, status=INVALID, reason=reason, joules=None) if e is gauge or e is counter else e
            for e in estimates]


def energy_columns(estimate: EnergyEstimate, count: int) -> dict[str, Any]:
    """Result-row columns: the estimate plus energy per inference / training step and its uncertainty."""
    per, per_u = estimate.per(count)
    return {**estimate.to_columns(), "energy_per_item_j": per, "energy_per_item_u_j": per_u}
