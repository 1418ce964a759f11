"""A suite becomes an ordered list of planned jobs: variant × workload × device × repetition.

Within a repetition every variant runs once per workload; the variant order flips on every other
repetition (A B, B A, A B, ...) so slow drift (heat, battery) does not favour one variant.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.protocol import PROTOCOL_VERSION
from harness.suite import Suite, Workload

__all__ = ["PlannedJob", "make_plan"]


@dataclasses.dataclass(frozen=True)
class PlannedJob:
    job_id: str
    order: int
    variant: str  # "<model>/<technique>"
    workload: Workload
    device: str
    repetition: int

    @property
    def model(self) -> str:
        return self.variant.split("/", 1)[0]

    def protocol_job(self, artifact_path: str, sha256: str, data: tuple[str, str] | None = None,
                     workload: Workload | None = None, job_id: str | None = None,
                     ranges: dict[str, list[float]] | None = None, cpus: tuple[int, ...] = ()) -> dict[str, Any]:
        """The job document a runner receives, with the artifact's path on that device.

        `data` is the (train, eval) .npz paths on the device for a workload with `data`; `workload` and
        `job_id` override this job's own (a background job runs another workload beside it); `ranges`
        are the synthetic inputs' [low, high) by input name (the artifact's input spec); `cpus` the CPU ids the
        runner pins itself to (the workload's `cpus`, resolved on the device).
        """
        w = workload or self.workload
        synthetic: dict[str, Any] = {"kind": "synthetic", "seed": w.input_seed}
        if ranges:
            synthetic["ranges"] = ranges
        job: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "job_id": job_id or self.job_id,
            "artifact": {"path": artifact_path, "sha256": sha256},
            "signature": w.signature,
            "input": {"kind": "npz", "path": data[0]} if data else synthetic,
            "warmup": w.warmup,
            "threads": w.threads,
            "delegate": w.delegate,
        }
        if w.signature == "train":
            job["train"] = {"steps": w.steps, "batch_size": w.batch_size}
            if data:
                job["eval"] = {"path": data[1]}
            if w.policy is not None:
                job["policy"] = w.policy.to_job()
        else:
            job["iterations"] = w.iterations
            job["min_duration_s"] = max(w.min_duration_s, w.sustained_s or 0.0)
        if cpus:
            job["cpus"] = list(cpus)
        return job


def make_plan(suite: Suite, devices: tuple[str, ...] | None = None) -> list[PlannedJob]:
    jobs: list[PlannedJob] = []
    for device in devices or suite.devices:
        workloads = [w if w.runner is not None else dataclasses.replace(w, runner=_default_runner(device))
                     for w in suite.workloads]
        # a train job carries the suite's scheduling policy to the device (its scheduler enforces it)
        workloads = [dataclasses.replace(w, policy=suite.policy) if w.signature == "train" else w for w in workloads]
        for rep in range(suite.repetitions):
            variants = suite.variants if rep % 2 == 0 else tuple(reversed(suite.variants))
            for workload in workloads:
                for variant in variants:
                    if workload.variants is not None and variant not in workload.variants:
                        continue  # e.g. a train workload on the variants that have a train signature
                    order = len(jobs)
                    jobs.append(PlannedJob(f"j{order:04d}", order, variant, workload, device, rep))
    return jobs


def _default_runner(device: str) -> str:
    """The runner a workload that names none gets on `device` (its backend's declaration); "companion"
    for an id no backend claims (a caller's own device, e.g. a test's; opening it is the caller's)."""
    from harness.devices import backend
    from harness.errors import UserError

    try:
        return backend(device).capabilities.default_runner
    except UserError:
        return "companion"
