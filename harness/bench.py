"""The orchestrator: suite → plan → artifacts → devices → [baseline ► job + telemetry] → analysis → store.

Every job's events and samples are stored as soon as the job ends, so an interrupted run keeps what it
measured; the run is marked `complete` only after its last job. Devices are restored on every exit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.analysis.energy import energy_columns, job_energy
from harness.analysis.summary import summarize_events
from harness.cooldown import cool_down
from harness.cooldown import read as read_thermal
from harness.devices import open_device
from harness.devices.base import Artifact, Device, EnergySource, Sample
from harness.errors import DeviceError, UserError
from harness.plan import PlannedJob, make_plan
from harness.provenance import git_commit, host_info, package_versions
from harness.store import RunWriter, Store, utc_now
from harness.suite import Suite

__all__ = ["Reporter", "BenchResult", "run_bench", "resolve_artifacts"]


class Reporter:
    """Progress hooks; the CLI draws them with rich, tests and library users may ignore them."""

    def building(self, variant: str) -> None: ...

    def job_started(self, job: PlannedJob, expected_events: int) -> None: ...

    def event(self, job: PlannedJob, event: dict[str, Any]) -> None: ...

    def job_finished(self, job: PlannedJob, row: dict[str, Any]) -> None: ...


@dataclasses.dataclass(frozen=True)
class BenchResult:
    run_id: str
    run_dir: Path
    status: str
    rows: tuple[dict[str, Any], ...]


def resolve_artifacts(variants: Sequence[str], reporter: Reporter) -> dict[str, Artifact]:
    """Build (or take from the cache) every variant the suite names."""
    from models import zoo

    known = set(zoo.variant_names())
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise UserError(f"unknown model variant {unknown[0]!r}; known: {', '.join(sorted(known))}")
    artifacts = {}
    for name in variants:
        reporter.building(name)
        built = zoo.build(name)
        artifacts[name] = Artifact(name, built.path, built.sha256, built.manifest)
    return artifacts


def _expected_events(job: PlannedJob) -> int:
    w = job.workload
    return w.warmup + (w.steps if w.signature == "train" else w.iterations)


def _idle_baseline(device: Device, seconds: float) -> list[Sample]:
    if seconds <= 0:
        return []
    sampler = device.sampler()
    with sampler.sampling() as samples:
        time.sleep(seconds)
    return samples


def _run_job(device: Device, job: PlannedJob, artifact: Artifact, device_path: str, suite: Suite,
             reporter: Reporter, reference_c: float | None,
             sources: Sequence[EnergySource]) -> tuple[dict[str, Any], list[dict[str, Any]], list[Sample]]:
    cooled = cool_down(device, reference_c, timeout_s=suite.cooldown_timeout_s)
    baseline = _idle_baseline(device, suite.baseline_s)
    reporter.job_started(job, _expected_events(job))
    started_utc = utc_now()
    events: list[dict[str, Any]] = []
    error: DeviceError | None = None
    sampler = device.sampler()
    with sampler.sampling() as samples:
        try:
            events = device.run(job.protocol_job(device_path, artifact.sha256), lambda e: reporter.event(job, e))
        except DeviceError as exc:
            error = exc
    row: dict[str, Any] = {
        "job_id": job.job_id, "order": job.order, "model": job.model, "variant": job.variant,
        "workload": job.workload.name, "signature": job.workload.signature, "device_id": job.device,
        "repetition": job.repetition, "threads": job.workload.threads, "delegate": job.workload.delegate,
        "artifact_sha256": artifact.sha256, "started_utc": started_utc,
        "baseline_samples": len(baseline),
        **summarize_events(events),
        **cooled.to_columns(),
        **energy_columns(*job_energy(sources, baseline, samples, events)),
    }
    if error is not None:
        row.update(status="failed", error_code=type(error).__name__, error_message=str(error))
    return row, events, baseline + samples


def _metadata(suite: Suite, suite_path: Path | None, devices: dict[str, Device],
              artifacts: dict[str, Artifact]) -> dict[str, Any]:
    return {
        "suite": {"name": suite.name, "path": str(suite_path) if suite_path else None, "source": suite.source},
        "git_commit": git_commit(),
        "host": host_info(),
        "packages": package_versions(),
        "devices": [d.describe().to_dict() for d in devices.values()],
        "artifacts": {name: a.manifest for name, a in artifacts.items()},
    }


def run_bench(suite: Suite, store: Store, *, suite_path: Path | None = None,
              device_ids: Sequence[str] | None = None, reporter: Reporter | None = None) -> BenchResult:
    """Run a whole suite and store it; KeyboardInterrupt leaves an `interrupted` run behind."""
    reporter = reporter or Reporter()
    plan = make_plan(suite, tuple(device_ids) if device_ids else None)
    artifacts = resolve_artifacts(suite.variants, reporter)
    devices: dict[str, Device] = {}
    writer: RunWriter | None = None
    status = "failed"
    rows: list[dict[str, Any]] = []
    try:
        for device_id in dict.fromkeys(job.device for job in plan):
            devices[device_id] = open_device(device_id)
        staged = {d: dev.stage(list(artifacts.values())) for d, dev in devices.items()}
        writer = store.create_run(_metadata(suite, suite_path, devices, artifacts), len(plan))
        # the temperature each device starts the run at is what cooldown returns to before every job
        reference = {d: read_thermal(dev.snapshot()).temp_c for d, dev in devices.items()}
        sources = {d: dev.describe().energy_sources for d, dev in devices.items()}
        for job in plan:
            artifact = artifacts[job.variant]
            row, events, samples = _run_job(devices[job.device], job, artifact, staged[job.device][artifact.sha256],
                                            suite, reporter, reference[job.device], sources[job.device])
            writer.write_job(row, events, samples)
            rows.append(row)
            reporter.job_finished(job, row)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        for device in devices.values():
            device.restore()
            device.close()
        if writer is not None:
            writer.finish(status)
    return BenchResult(writer.run_id, writer.dir, status, tuple(rows))
