"""One job's raw events reduced to its stored result row (latency, loss, delta, status)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from harness.analysis.latency import LatencyStats, latency_stats
from harness.events import AggregateTimings, EventLog, Sample

__all__ = ["summarize_events", "summarize_benchmark_model", "instability_advice", "placement_columns",
           "delegate_used", "cpu_list", "placement_row"]


def summarize_events(events: EventLog | Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Result columns from one protocol event stream (which ends in `finished` or `error`), as it was
    reduced on arrival (`EventLog`) or as a list.

    Latency statistics cover measured events only (warm-up excluded): invokes for `infer`,
    optimizer steps for `train`.
    """
    log = events if isinstance(events, EventLog) else EventLog.of(events)
    last = log.last or {}
    row: dict[str, Any] = {
        "status": "ok" if last.get("event") == "finished" else "failed",
        "error_code": last.get("code"),
        "error_message": last.get("message"),
        "delta_bytes": last.get("delta_bytes"),
        "peak_rss_bytes": last.get("peak_rss_bytes"),
        "runner": (log.first.get("runner") or {}).get("name") if log.first else None,
    }
    span = log.order_span()
    if span is not None:
        row.update(latency_stats(log.latencies()).as_row())
        row["first_start_ns"], row["last_end_ns"] = span
        row["duration_s"] = (span[1] - span[0]) / 1e9
    row.update(placement_columns(log.loaded or {}))
    if "accuracy_after" in last:
        row.update(eval_examples=last["eval_examples"], accuracy_before=last["accuracy_before"],
                   accuracy_after=last["accuracy_after"],
                   accuracy_gain=last["accuracy_after"] - last["accuracy_before"])
    losses = log.losses()
    if losses:
        row["first_loss"], row["final_loss"] = losses
    return row


def cpu_list(cpus: Iterable[int]) -> str:
    """CPU ids as ranges, as taskset and /sys print them: [0, 1, 2, 3, 6] -> "0-3,6"."""
    ids, parts = sorted(set(cpus)), []
    for cpu in ids:
        if parts and parts[-1][1] == cpu - 1:
            parts[-1][1] = cpu
        else:
            parts.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def placement_columns(loaded: Mapping[str, Any]) -> dict[str, Any]:
    """Where a job ran, from its runner's `loaded` event (nulls for what the runner did not say)."""
    affinity = loaded.get("affinity")
    return {"load_ms": loaded.get("load_ms"), "affinity": cpu_list(affinity) if affinity is not None else None,
            "ops": loaded.get("ops"), "delegated_ops": loaded.get("delegated_ops"),
            "fully_delegated": loaded.get("fully_delegated"), "placement_note": loaded.get("placement_note")}


def delegate_used(delegate: str, row: Mapping[str, Any]) -> bool | None:
    """Whether the job's delegate took any operator: None for `cpu` (no delegate asked) and where the runner
    could not tell; False marks a job whose numbers are the CPU's, never a delegate result."""
    if delegate == "cpu":
        return None
    if row.get("fully_delegated") or (row.get("delegated_ops") or 0) > 0:
        return True
    return False if row.get("delegated_ops") == 0 else None


def placement_row(delegate: str, cpus: str | None, summary: Mapping[str, Any], samples: Iterable[Sample],
                  governor: str | None) -> dict[str, Any]:
    """Where a job ran, beyond what its runner said: the suite's `cpus` as resolved, the governor and the clock
    range the sampler saw (MHz, every cpufreq policy), and whether the delegate took any operator."""
    clocks = [s.value / 1e6 for s in samples if s.source == "cpufreq" and s.unit == "Hz"]
    return {"cpus": cpus, "cpu_governor": governor, "cpu_mhz_min": min(clocks) if clocks else None,
            "cpu_mhz_max": max(clocks) if clocks else None, "delegate_used": delegate_used(delegate, summary)}


def summarize_benchmark_model(result: AggregateTimings) -> dict[str, Any]:
    """Result columns from LiteRT `benchmark_model`'s aggregates, labelled `runner = benchmark_model`.

    `n`, `mean_ms`, `stdev_ms`, `min_ms`, `max_ms` are the tool's own figures over its measured runs;
    percentiles and the median CI stay null because the tool reports no per-invoke latencies.
    """
    row: dict[str, Any] = {
        "status": "ok", "error_code": None, "error_message": None, "delta_bytes": None, "peak_rss_bytes": None,
        "runner": "benchmark_model",
        # p50/p90/p99 and the median CI need per-invoke latencies: null, never estimated
        **{field.name: None for field in dataclasses.fields(LatencyStats)},
        "n": result.count, "mean_ms": result.inference_avg_ms, "stdev_ms": result.std_ms,
        "min_ms": result.min_ms, "max_ms": result.max_ms,
        "init_ms": result.init_ms, "load_ms": result.init_ms, "first_inference_ms": result.first_inference_ms,
        "warmup_avg_ms": result.warmup_avg_ms,
    }
    return row


def instability_advice(jobs: Iterable[Mapping[str, Any]]) -> str:
    """What most likely made a key's repetitions vary, from its result rows (as pyperf advises)."""
    jobs = list(jobs)
    if any("charging" in str(j.get("energy_reason") or "") for j in jobs):
        return "the device was charging during some jobs (unplug it, or use adb over Wi-Fi)"
    statuses = {j.get("cooldown_end_status") for j in jobs if j.get("cooldown_end_status") is not None}
    if len(statuses) > 1 or any(s and s > 0 for s in statuses):
        return "the thermal status changed between repetitions (give cooldown_timeout_s more time)"
    counts = [j.get("n") for j in jobs if j.get("n")]
    if counts and min(counts) < 50:
        return f"only {min(counts)} measured items per job (raise iterations or min_duration_s)"
    return "background load on the device (close other work; more repetitions narrow the spread)"
