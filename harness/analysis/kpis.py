"""The KPIs teams track for on-device personalization, per run, from the stored tables.

Inputs are a run's `results`, `events` and `samples` frames (harness.store). A KPI that cannot be
computed is None with a reason in `notes`, never 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from harness.events import family, measured_frame

__all__ = ["RunKPIs", "thermal_fractions", "foreground_latency", "run_kpis"]

@dataclasses.dataclass(frozen=True)
class RunKPIs:
    thermal_fraction: dict[int, float]  # thermal status level -> fraction of sampled time
    max_thermal_status: int | None
    throttled: bool | None  # any status >= 1 (Android LIGHT and up) seen
    personalization_power_w: float | None  # mean device power during training jobs (gross)
    baseline_power_w: float | None  # idle power measured before those jobs
    personalization_drain_ratio: float | None  # personalization / baseline power
    battery_level_delta_pct: float | None  # battery level change over the training jobs
    accuracy_gain_per_j: dict[str, float]  # variant -> accuracy gain / net training energy
    latency_ms: dict[str, dict[str, float]]  # "variant · workload" -> p50/p90/p99 (median over reps)
    delta_bytes: dict[str, int]  # variant -> bytes of the personalization delta
    foreground_p50_ms: float | None  # inference latency while a training job ran (what a user feels)
    foreground_p99_ms: float | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def thermal_fractions(samples: pd.DataFrame) -> dict[int, float]:
    """Time-weighted share of each thermal status (a reading holds until the next one)."""
    families = samples["source"].map(family)
    status = samples[(families == "thermal") & (samples["channel"] == "status")].sort_values("t_ns")
    if len(status) < 2:
        return {}
    t = status["t_ns"].to_numpy(np.int64)
    dt = np.diff(t).astype(float)
    levels = status["value"].to_numpy(float)[:-1].astype(int)
    total = dt.sum()
    return {int(level): float(dt[levels == level].sum() / total) for level in np.unique(levels)} if total else {}


def foreground_latency(events: pd.DataFrame) -> np.ndarray:
    """Latencies of a job's own invokes that overlapped a train step of any stream (a background job
    beside it; same device clock)."""
    invokes, steps = measured_frame(events, "invoke"), measured_frame(events, "train_step", own=False)
    if invokes.empty or steps.empty:
        return np.array([])
    spans = steps.sort_values("start_ns")
    starts = spans["start_ns"].to_numpy(np.int64)
    ends = np.maximum.accumulate(spans["end_ns"].to_numpy(np.int64))
    # an invoke overlaps if some step started before it ended and ended after it started
    last = np.searchsorted(starts, invokes["end_ns"].to_numpy(np.int64), side="left") - 1
    overlap = (last >= 0) & (ends[np.clip(last, 0, None)] > invokes["start_ns"].to_numpy(np.int64))
    return invokes["latency_ms"].to_numpy(float)[overlap]


def _battery_delta(samples: pd.DataFrame, train: pd.DataFrame) -> float | None:
    level = samples[(samples["source"].map(family) == "battery") & (samples["channel"] == "level")]
    if level.empty or train.empty or "first_start_ns" not in train:
        return None
    total = 0.0
    for _, job in train.iterrows():
        inside = level[(level["t_ns"] >= job["first_start_ns"]) & (level["t_ns"] <= job["last_end_ns"])]
        if len(inside) >= 2:
            ordered = inside.sort_values("t_ns")["value"]
            total += float(ordered.iloc[-1] - ordered.iloc[0])
    return total


def run_kpis(results: pd.DataFrame, events: pd.DataFrame, samples: pd.DataFrame) -> RunKPIs:
    notes = []
    ok = results[results["status"] == "ok"] if "status" in results else results
    fractions = thermal_fractions(samples) if not samples.empty else {}
    if not fractions:
        notes.append("no thermal status samples: thermal KPIs unavailable")
    max_status = max(fractions) if fractions else None
    train = ok[ok["signature"] == "train"] if "signature" in ok else ok.iloc[0:0]
    energy_ok = train[train.get("energy_status", pd.Series(index=train.index, dtype=object)) == "ok"]
    power = base = ratio = None
    if len(energy_ok):
        power = float(energy_ok["energy_gross_j"].sum() / energy_ok["energy_duration_s"].sum())
        base_w = energy_ok["energy_baseline_w"].dropna()
        base = float(base_w.mean()) if len(base_w) else None
        ratio = power / base if base else None
    else:
        notes.append("no training job with resolved energy: drain KPIs unavailable")
    gain = {}
    if "accuracy_gain" in energy_ok and energy_ok["accuracy_gain"].notna().any():
        for variant, g in energy_ok.dropna(subset=["accuracy_gain"]).groupby("variant"):
            gain[variant] = float(g["accuracy_gain"].median() / g["energy_joules"].median())
    else:
        notes.append("results carry no accuracy_gain: accuracy per joule unavailable")
    latency = {f"{v} · {w}": {p: float(g[f"{p}_ms"].median()) for p in ("p50", "p90", "p99")}
               for (v, w), g in ok.groupby(["variant", "workload"])} if "p50_ms" in ok else {}
    delta = {v: int(b) for v, b in ok.groupby("variant")["delta_bytes"].max().dropna().items()} \
        if "delta_bytes" in ok else {}
    fg = foreground_latency(events) if not events.empty else np.array([])
    if fg.size == 0:
        notes.append("no inference ran during a training job: foreground latency under update unavailable")
    return RunKPIs(
        thermal_fraction=fractions, max_thermal_status=max_status,
        throttled=None if max_status is None else max_status >= 1,
        personalization_power_w=power, baseline_power_w=base, personalization_drain_ratio=ratio,
        battery_level_delta_pct=_battery_delta(samples, train) if not samples.empty else None,
        accuracy_gain_per_j=gain, latency_ms=latency, delta_bytes=delta,
        foreground_p50_ms=float(np.percentile(fg, 50)) if fg.size else None,
        foreground_p99_ms=float(np.percentile(fg, 99)) if fg.size else None, notes=tuple(notes))
