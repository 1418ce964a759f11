"""A sustained run's throttling curve: latency and energy per inference over time beside the device's heat.

A workload with `sustained_s` keeps invoking for that long. Its measured span is cut into equal windows;
each window gets the median latency, the energy per inference (where a power channel was sampled), the
hottest temperature and thermal status seen, and the CPU clock where the device reports one. On a twin the
clock is the thermal model's and the invokes run on this computer, so the latency the phone would show is
the measured one divided by the modelled clock fraction: that series, the throttle time and the ratio are
then modelled, and labelled so (`basis`).

- **Time to first throttle**: seconds from the first measured invoke to the first reading of a lowered
  clock (below its value at the start); where no clock is sampled, to the first thermal status of 1
  (Android's LIGHT, its first throttling level) or above. None: it never throttled.
- **Steady/initial latency ratio**: median latency of the last fifth of the span over that of the first
  tenth (above 1: the device got slower as it heated).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from harness.events import is_modelled

__all__ = ["ThrottlingCurve", "throttling_curve", "sustained_columns", "samples_frame"]

WINDOWS = 30


@dataclasses.dataclass(frozen=True)
class ThrottlingCurve:
    """One sustained job's curve, one entry per window (NaN where a window has no reading)."""

    t_s: np.ndarray  # window middle, seconds after the first measured invoke
    latency_ms: np.ndarray  # median measured latency
    device_latency_ms: np.ndarray  # what the device would show: measured, or measured / modelled clock (twin)
    energy_per_inference_j: np.ndarray
    temp_c: np.ndarray  # hottest thermal reading
    status: np.ndarray  # highest thermal status
    clock_pct: np.ndarray  # CPU clock, % of its value at the start
    time_to_throttle_s: float | None
    steady_initial_ratio: float | None
    basis: str  # "measured" or "modelled: ..." (what the throttle time and ratio rest on)


def samples_frame(samples: Any) -> pd.DataFrame:
    """Samples (a list of `Sample` or a stored frame) as a frame with t_ns, source, channel, value, unit."""
    if isinstance(samples, pd.DataFrame):
        return samples
    return pd.DataFrame([dataclasses.asdict(s) for s in samples],
                        columns=["t_ns", "source", "channel", "value", "unit"])


def _family(samples: pd.DataFrame, family: str) -> pd.Series:
    return samples["source"].str.rpartition("/")[2].eq(family) | samples["source"].eq(family)


def _clock(samples: pd.DataFrame) -> pd.DataFrame:
    """CPU clock readings, % of the first one: a twin's modelled clock, else the fastest core's frequency."""
    clock = samples[_family(samples, "cpu") & samples["channel"].eq("clock")]
    if clock.empty:
        freq = samples[samples["source"].eq("cpufreq") & samples["unit"].eq("Hz")]
        clock = freq.groupby("t_ns", as_index=False)["value"].max().assign(source="cpufreq") \
            if not freq.empty else clock
    clock = clock.sort_values("t_ns")[["t_ns", "value", "source"]]
    if not clock.empty and clock["value"].iloc[0] > 0:
        clock = clock.assign(value=clock["value"] / clock["value"].iloc[0] * 100)
    return clock


def _per_window(t_ns: np.ndarray, values: np.ndarray, edges: np.ndarray, how: str) -> np.ndarray:
    out = np.full(len(edges) - 1, np.nan)
    which = np.searchsorted(edges, t_ns, side="right") - 1
    for w in range(len(out)):
        chunk = values[which == w]
        if chunk.size:
            out[w] = {"median": np.median, "max": np.max, "mean": np.mean, "min": np.min}[how](chunk)
    return out


def throttling_curve(starts_ns: np.ndarray, ends_ns: np.ndarray, latency_ms: np.ndarray, samples: Any,
                     windows: int = WINDOWS) -> ThrottlingCurve | None:
    """The curve of one job's measured invokes and the samples taken beside them; None without invokes."""
    starts_ns, ends_ns, latency_ms = (np.asarray(a) for a in (starts_ns, ends_ns, latency_ms))
    if not starts_ns.size:
        return None
    frame = samples_frame(samples)
    t0, t1 = int(starts_ns.min()), int(ends_ns.max())
    edges = np.linspace(t0, t1 + 1, windows + 1)
    mids = (edges[:-1] + edges[1:]) / 2
    latency = _per_window(starts_ns, latency_ms, edges, "median")
    counts = np.histogram(starts_ns, bins=edges)[0]
    inside = frame[(frame["t_ns"] >= t0) & (frame["t_ns"] <= t1)]
    # window values hold the last reading before a window too (slow channels sample every 100 ms or more)
    clock = _clock(frame)
    clock_w = _held(clock["t_ns"].to_numpy(), clock["value"].to_numpy(), edges) if not clock.empty else \
        np.full(windows, np.nan)
    temps = inside[_family(inside, "thermal") & inside["unit"].eq("C")]
    status = frame[_family(frame, "thermal") & frame["channel"].eq("status")]
    status_w = _held(status["t_ns"].to_numpy(), status["value"].to_numpy(), edges, "max") if not status.empty \
        else np.full(windows, np.nan)
    power = inside[inside["unit"].eq("W") & inside["channel"].eq("power")]
    energy = np.full(windows, np.nan)
    if not power.empty:
        mean_w = _per_window(power["t_ns"].to_numpy(), power["value"].to_numpy(), edges, "mean")
        with np.errstate(invalid="ignore", divide="ignore"):
            energy = np.where(counts > 0, mean_w * np.diff(edges) / 1e9 / counts, np.nan)
    modelled_clock = not clock.empty and is_modelled(str(clock["source"].iloc[0]))
    device = latency / (clock_w / 100) if modelled_clock else latency
    throttle = _first_throttle(clock, status, t0, t1)
    basis = ("modelled: the twin's clock (latency = measured on this computer ÷ modelled clock)" if modelled_clock
             else "measured")
    return ThrottlingCurve(
        t_s=(mids - t0) / 1e9, latency_ms=latency, device_latency_ms=device, energy_per_inference_j=energy,
        temp_c=_per_window(temps["t_ns"].to_numpy(), temps["value"].to_numpy(), edges, "max"),
        status=status_w, clock_pct=clock_w, time_to_throttle_s=throttle,
        steady_initial_ratio=_ratio(starts_ns, latency_ms, t0, t1, clock if modelled_clock else None),
        basis=basis)


def _held(t_ns: np.ndarray, values: np.ndarray, edges: np.ndarray, how: str = "min") -> np.ndarray:
    """Per window, the readings in it together with the one in force when it began (a reading holds)."""
    order = np.argsort(t_ns)
    t_ns, values = t_ns[order], values[order]
    out = np.full(len(edges) - 1, np.nan)
    for w in range(len(out)):
        first = np.searchsorted(t_ns, edges[w], side="right") - 1
        last = np.searchsorted(t_ns, edges[w + 1], side="left")
        chunk = values[max(first, 0):last]
        if first < 0 and not chunk.size:
            continue
        if chunk.size:
            out[w] = chunk.min() if how == "min" else chunk.max()
    return out


def _first_throttle(clock: pd.DataFrame, status: pd.DataFrame, t0: int, t1: int) -> float | None:
    if not clock.empty:
        before = clock[clock["t_ns"] <= t0]
        start = before["value"].iloc[-1] if not before.empty else clock["value"].iloc[0]
        lowered = clock[(clock["t_ns"] >= t0) & (clock["t_ns"] <= t1) & (clock["value"] < start - 1e-9)]
        return float(max(lowered["t_ns"].iloc[0] - t0, 0) / 1e9) if not lowered.empty else None
    hot = status[(status["t_ns"] <= t1) & (status["value"] >= 1)].sort_values("t_ns")
    return float(max(hot["t_ns"].iloc[0] - t0, 0) / 1e9) if not hot.empty else None


def _ratio(starts_ns: np.ndarray, latency_ms: np.ndarray, t0: int, t1: int, clock: pd.DataFrame | None
           ) -> float | None:
    span = t1 - t0
    if span <= 0:
        return None
    values = latency_ms.astype(float)
    if clock is not None:  # a twin: each invoke at the modelled clock in force when it started
        at = np.searchsorted(clock["t_ns"].to_numpy(), starts_ns, side="right") - 1
        values = values / (clock["value"].to_numpy()[np.clip(at, 0, None)] / 100)
    early = values[starts_ns < t0 + span * 0.1]
    late = values[starts_ns >= t1 - span * 0.2]
    if not early.size or not late.size or np.median(early) <= 0:
        return None
    return float(np.median(late) / np.median(early))


def sustained_columns(sustained_s: float | None, curve: ThrottlingCurve | None) -> dict[str, Any]:
    """The stored columns of a sustained job (nulls for a job that is not one)."""
    if sustained_s is None:
        return {}
    return {"sustained_s": sustained_s,
            "time_to_throttle_s": curve.time_to_throttle_s if curve else None,
            "steady_initial_ratio": curve.steady_initial_ratio if curve else None,
            "throttle_basis": curve.basis if curve else None}
