"""A run's timeline as a Chrome trace-event JSON document (opens in ui.perfetto.dev and chrome://tracing).

One process per device; on its "jobs" thread every job is an "X" slice with its invokes or train
steps nested inside; every telemetry channel is a "C" counter track named `source/channel (unit)`.
Timestamps are microseconds of the device's monotonic clock, shifted so the run starts at 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import UserError
from harness.events import TIMED
from harness.files import write_atomic
from harness.jsonable import jsonable
from harness.store import Store

__all__ = ["build_trace", "export_trace"]

_JOBS_TID, _STEPS_TID, _BACKGROUND_TID = 1, 2, 3


def build_trace(store: Store, run_ref: str) -> dict[str, Any]:
    run_id = store.resolve(run_ref)
    results, events, samples = store.results(run_id), store.events(run_id), store.samples(run_id)
    if results.empty:
        raise UserError(f"run {run_id} has no stored jobs to export")
    times = [events[c].dropna() for c in ("t_ns", "start_ns") if c in events] + [samples.get("t_ns", pd.Series())]
    origin = min((int(t.min()) for t in times if len(t)), default=0)  # a run may have stored no events
    us = lambda ns: (int(ns) - origin) / 1000  # noqa: E731
    pids = {d: n + 1 for n, d in enumerate(sorted(results["device_id"].unique()))}
    out: list[dict[str, Any]] = []
    for device, pid in pids.items():
        out += [{"ph": "M", "pid": pid, "name": "process_name", "args": {"name": device}},
                {"ph": "M", "pid": pid, "tid": _JOBS_TID, "name": "thread_name", "args": {"name": "jobs"}},
                {"ph": "M", "pid": pid, "tid": _STEPS_TID, "name": "thread_name", "args": {"name": "invokes / steps"}},
                {"ph": "M", "pid": pid, "tid": _BACKGROUND_TID, "name": "thread_name",
                 "args": {"name": "background training beside a job"}}]
    by_job = dict(tuple(g) for g in events.groupby("job_id")) if not events.empty else {}
    args_cols = [c for c in ("job_id", "variant", "workload", "repetition", "status", "p50_ms", "p99_ms",
                             "energy_status", "energy_source", "energy_joules", "energy_uncertainty_j") if c in results]
    for _, job in results.iterrows():
        ev = by_job.get(job["job_id"])
        if ev is None:
            continue
        pid = pids[job["device_id"]]
        stamps = pd.concat([ev["t_ns"], ev["start_ns"], ev["end_ns"]]).dropna()
        if stamps.empty:
            continue
        start, end = int(stamps.min()), int(stamps.max())
        out.append({"ph": "X", "pid": pid, "tid": _JOBS_TID, "name": f"{job['variant']} · {job['workload']}",
                    "cat": "job", "ts": us(start), "dur": (end - start) / 1000,
                    "args": {c: jsonable(job[c]) for c in args_cols}})
        timed = ev[ev["event"].isin(TIMED)]
        for row in timed.itertuples(index=False):
            tid = _STEPS_TID if row.stream == job["job_id"] else _BACKGROUND_TID
            out.append({"ph": "X", "pid": pid, "tid": tid, "name": row.event, "cat": "warmup" if row.warmup
                        else "measured", "ts": us(row.start_ns), "dur": (row.end_ns - row.start_ns) / 1000,
                        "args": {"idx": jsonable(row.idx), "latency_ms": jsonable(row.latency_ms)}})
    if not samples.empty:
        device_of = dict(zip(results["job_id"], results["device_id"]))
        samples = samples.assign(pid=samples["job_id"].map(device_of).map(pids)).dropna(subset=["pid"])
        for (pid, source, channel, unit), g in samples.groupby(["pid", "source", "channel", "unit"]):
            name = f"{source}/{channel} ({unit})"
            g = g.drop_duplicates("t_ns").sort_values("t_ns")
            out += [{"ph": "C", "pid": int(pid), "name": name, "ts": us(t), "args": {"value": float(v)}}
                    for t, v in zip(g["t_ns"], g["value"])]
    return {"traceEvents": out, "displayTimeUnit": "ms",
            "metadata": {"run_id": run_id, "clock": "device monotonic, microseconds from the run's first stamp"}}


def export_trace(store: Store, run_ref: str, path: Path) -> Path:
    return write_atomic(path, json.dumps(build_trace(store, run_ref), separators=(",", ":")))
