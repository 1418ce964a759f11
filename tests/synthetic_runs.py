"""Synthetic runs written through the real store API (`Store.create_run` / `RunWriter.write_job`).

Latencies are seeded log-normal draws around a median per variant, with a small per-repetition
offset (drift); telemetry is a modelled power/temperature/thermal-status trace at `rate_hz`.
Shared by the compare, dashboard and trace tests and by the dashboard render benchmark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np

from harness.analysis.energy import energy_columns, job_energy
from harness.analysis.summary import summarize_events
from harness.events import EnergySource, Sample, background_stream
from harness.store import Store

SOURCES = (EnergySource("model:pixel7", True, kind="modelled"),)
MEDIANS_MS = {"toy-cnn/last-layer": 2.0, "toy-cnn-wide/last-layer": 5.0}
WORKLOADS = (("infer", "infer"), ("personalize", "train"))


def _events(job_id: str, rng: np.random.Generator, median_ms: float, signature: str, n: int,
            t0_ns: int) -> list[dict]:
    lat = median_ms * np.exp(rng.normal(0.0, 0.05, n + 3))
    events: list[dict] = [{"event": "started", "job_id": job_id, "protocol": 1, "t_ns": t0_ns,
                           "runner": {"name": "synthetic", "version": "0"}}]
    t = t0_ns
    for i, ms in enumerate(lat):
        start, end = t, t + int(ms * 1e6)
        t = end + 50_000
        common = {"job_id": job_id, "warmup": i < 3, "start_ns": start, "end_ns": end, "latency_ms": float(ms)}
        if signature == "train":
            events.append({"event": "train_step", "step": i, "loss": float(2.0 * np.exp(-i / 20)), **common})
        else:
            events.append({"event": "invoke", "index": i, **common})
    finished = {"event": "finished", "job_id": job_id, "t_ns": t, "measured": n}
    if signature == "train":
        finished["delta_bytes"] = 4096
    return [*events, finished]


def _samples(t0_ns: int, t1_ns: int, rate_hz: float, rng: np.random.Generator, busy_w: float) -> list[Sample]:
    t = np.arange(t0_ns - int(0.5e9), t1_ns + int(0.2e9), int(1e9 / rate_hz))
    power = busy_w + rng.normal(0, 0.05, t.size)
    power[t < t0_ns] = 0.8
    temp = 30 + np.cumsum(power) / (rate_hz * 50)
    status = (temp > 31).astype(float)
    out = []
    for ti, p, c, s in zip(t.tolist(), power.tolist(), temp.tolist(), status.tolist()):
        out += [Sample(ti, "model:pixel7", "power", p, "W"), Sample(ti, "battery", "temp", c, "C"),
                Sample(ti, "thermal", "status", s, "level")]
    return out


def write_run(store: Store, *, seed: int, slowdown: Mapping[str, float] | None = None, repetitions: int = 3,
              n: int = 200, suite: str = "synthetic", created: dt.datetime | None = None,
              rate_hz: float = 10.0, telemetry: bool = True, background_ms: float | None = None,
              drift_sd: float = 0.01, commit: str | None = None) -> str:
    """One complete run: every variant × workload × repetition, A B alternation; returns its run id.

    With `background_ms`, each infer job is stored with a background train job's events beside it
    (stream `<job>-bg`, steps of that median), as `background = ...` workloads store them. `drift_sd` is
    the log-sd of each repetition's offset (a large one makes an unstable run); `commit` is the manifest's
    git commit.
    """
    rng = np.random.default_rng(seed)
    variants = list(MEDIANS_MS)
    jobs = repetitions * len(variants) * len(WORKLOADS)
    writer = store.create_run({"suite": {"name": suite, "path": None, "source": ""}, "devices": [],
                               "git_commit": commit}, jobs)
    t_ns = 1_000_000_000_000
    order = 0
    for rep in range(repetitions):
        drift = float(np.exp(rng.normal(0.0, drift_sd)))
        for workload, signature in WORKLOADS:
            for variant in variants if rep % 2 == 0 else reversed(variants):
                job_id = f"j{order:04d}"
                median = MEDIANS_MS[variant] * drift * (slowdown or {}).get(variant, 1.0)
                median *= 3 if signature == "train" else 1
                own = _events(job_id, rng, median, signature, n, t_ns)
                beside = (_events(background_stream(job_id), rng, background_ms, "train", n, t_ns)
                          if background_ms is not None and signature == "infer" else [])
                samples = _samples(t_ns, own[-1]["t_ns"], rate_hz, rng, 2.0 + median / 5) if telemetry else []
                row = {"job_id": job_id, "order": order, "model": variant.split("/")[0], "variant": variant,
                       "workload": workload, "signature": signature, "device_id": "sim:pixel7",
                       "repetition": rep, "threads": 2, "delegate": "xnnpack", **summarize_events(own)}
                idle = [s for s in samples if s.t_ns < t_ns]
                row.update(energy_columns(*job_energy(SOURCES, idle, samples, own)))
                events = own + beside
                writer.write_job(row, events, samples)
                t_ns = max(e.get("end_ns", e.get("t_ns", 0)) for e in events) + 2_000_000_000
                order += 1
    if created is not None:
        writer.manifest["created_utc"] = created.isoformat(timespec="seconds").replace("+00:00", "Z")
    writer.finish("complete")
    return writer.run_id
