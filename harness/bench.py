"""The orchestrator: suite → plan → artifacts → devices → [baseline ► job + telemetry] → analysis → store.

Every job's events and samples are stored as soon as the job ends, so an interrupted run keeps what it
measured; the run is marked `complete` only after its last job. Devices are restored on every exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.analysis.energy import energy_columns, job_energy
from harness.analysis.summary import cpu_list, placement_row, summarize_benchmark_model, summarize_events
from harness.analysis.sustained import sustained_columns, throttling_curve
from harness.checksum import sha256_file
from harness.cooldown import cool_down
from harness.cooldown import read as read_thermal
from harness.devices import open_device
from harness.devices.base import (
    DEFAULT_JOB_TIMEOUT_S,
    Artifact,
    Device,
    DeviceDescription,
    TelemetrySampler,
    resolve_cpus,
)
from harness.devices.capabilities import RUNNERS
from harness.devices.lock import device_lock
from harness.errors import CompanionAppError, DeviceError, DeviceLost, UserError
from harness.events import EnergySource, EventLog, Sample, background_stream
from harness.plan import PlannedJob, make_plan
from harness.protocol import ProtocolError, StreamCheck
from harness.provenance import git_commit, host_info, package_versions
from harness.store import RunWriter, Store, utc_now
from harness.suite import Suite, Workload, parse_suite

__all__ = ["Reporter", "BenchResult", "run_bench", "resume_bench", "check_devices", "check_artifacts",
           "resolve_artifacts"]

DeviceOpener = Callable[[str], Device]
_T = TypeVar("_T")


class Reporter:
    """Progress hooks; the CLI draws them with rich, tests and library users may ignore them."""

    def building(self, variant: str) -> None: ...

    def job_started(self, job: PlannedJob, expected_events: int) -> None: ...

    def event(self, job: PlannedJob, event: dict[str, Any]) -> None: ...

    def job_finished(self, job: PlannedJob, row: dict[str, Any]) -> None: ...

    def device_lost(self, device_id: str, cause: str, jobs_left: int, run_id: str) -> None:
        """`device_id` stopped answering; `jobs_left` of its jobs (the lost one included) wait for a resume."""

    def note(self, message: str) -> None:
        """Something the user should know that does not stop the run (e.g. a stale device hold taken over)."""


@dataclasses.dataclass(frozen=True)
class BenchResult:
    run_id: str
    run_dir: Path
    status: str
    rows: tuple[dict[str, Any], ...]


def _check_variants(variants: Sequence[str]) -> dict[str, str]:
    """Every variant the suite names exists; its artifact format by name."""
    from models.tasks import find_variant, variant_names

    formats = {}
    for name in variants:
        try:
            formats[name] = find_variant(name).format
        except KeyError:
            raise UserError(f"unknown model variant {name!r}; known: {', '.join(variant_names())}") from None
    return formats


def check_devices(plan: Sequence[PlannedJob], suite: Suite, devices: dict[str, Device],
                  formats: dict[str, str]) -> None:
    """Every job asks its device only for what the device's backend declares; UserError naming the first miss."""
    for device in devices.values():
        caps = device.capabilities
        for condition in suite.conditions:
            if condition.name not in caps.conditions:
                raise UserError(f"{device.id} cannot induce conditions: {condition.name!r} is not among its "
                                f"conditions ({', '.join(caps.conditions) or 'none'}); [conditions] in a suite needs "
                                "devices that can (android:<serial>)")
    for job in plan:
        device, w = devices[job.device], job.workload
        caps = device.capabilities
        if formats[job.variant] not in caps.formats:
            kind = "a Core ML" if formats[job.variant] == "coreml" else f"a {formats[job.variant]}"
            raise UserError(f"variant {job.variant!r} is {kind} artifact; {device.id} runs only "
                            f"{'/'.join(caps.formats)} artifacts (Core ML runs on ios:<udid> devices): use a variant "
                            "of another format for this device")
        name = w.runner or caps.default_runner  # None: a plan made without make_plan's resolution
        runner = caps.runner(name)
        if runner is None:
            raise UserError(f"{device.id} cannot run {RUNNERS[name].description} (runner = {name!r}); "
                            f"its runners: {', '.join(r.name for r in caps.runners)}")
        if w.signature not in runner.signatures or w.delegate not in runner.delegates:
            raise UserError(f"workload {w.name!r}: {device.id}'s runner {runner.name!r} runs "
                            f"{'/'.join(runner.signatures)} with delegates {', '.join(runner.delegates)}, not "
                            f"{w.signature} on {w.delegate!r}")
        if w.cpus is not None and not runner.placement:
            raise UserError(f"workload {w.name!r}: {device.id}'s runner {runner.name!r} cannot be pinned to CPUs "
                            "(cpus): drop cpus for it, or use a runner that pins itself (native, companion)")
        if w.background is not None and not runner.background:
            raise UserError(f"workload {w.name!r}: {device.id} cannot run a background job beside another "
                            f"(runner {runner.name!r}); run background workloads on a device that can (host)")


def check_artifacts(plan: Sequence[PlannedJob], artifacts: dict[str, Artifact]) -> None:
    """Every job's workload fits its artifact's signatures (as the artifact manifest records them)."""
    for job in plan:
        w, manifest = job.workload, artifacts[job.variant].manifest
        signatures = manifest.get("signatures")
        if signatures is not None and w.signature not in signatures:
            raise UserError(f"workload {w.name!r}: variant {job.variant!r} has no {w.signature!r} signature "
                            f"(it has {', '.join(signatures)})")
        batch = manifest.get("train_batch")
        if w.signature == "train" and batch is not None and w.batch_size != batch:
            raise UserError(f"workload {w.name!r}: batch_size {w.batch_size}, but the train signature of "
                            f"{job.variant!r} takes batches of {batch}; set batch_size = {batch}")


def resolve_artifacts(variants: Sequence[str], reporter: Reporter) -> dict[str, Artifact]:
    """Build (or take from the cache) every variant the suite names."""
    from models import zoo

    artifacts = {}
    for name in variants:
        reporter.building(name)
        built = zoo.build(name)
        artifacts[name] = Artifact(name, built.path, built.sha256, built.manifest)
    return artifacts


def resolve_data(suite: Suite) -> dict[str, tuple[Artifact, Artifact]]:
    """The (train, eval) files of every person a workload personalizes on, by `data` spec (its task's)."""
    from models.tasks import data_files

    files = {}
    for spec in dict.fromkeys(w.data for w in suite.workloads if w.data):
        train, test = data_files(spec)
        files[spec] = (Artifact(f"{spec}/train", train, sha256_file(train)),
                       Artifact(f"{spec}/eval", test, sha256_file(test)))
    return files


def _expected_events(job: PlannedJob) -> int:
    w = job.workload
    return w.warmup + (w.steps if w.signature == "train" else w.iterations)


def _idle_baseline(device: Device, seconds: float) -> tuple[list[Sample], TelemetrySampler | None]:
    if seconds <= 0:
        return [], None
    sampler = device.sampler()
    with sampler.sampling() as samples:
        time.sleep(seconds)
    return samples, sampler


def _telemetry_verdict(*samplers: TelemetrySampler | None) -> tuple[dict[str, str], str | None]:
    """Sources the job's samplers (baseline, job) cannot vouch for, and their evidence as JSON text."""
    invalid: dict[str, str] = {}
    evidence: dict[str, dict[str, str]] = {}
    for part, sampler in zip(("baseline", "job"), samplers, strict=True):
        if sampler is None:
            continue
        for source, reason in sampler.invalid.items():
            invalid.setdefault(source, f"{reason} ({part} telemetry)")
        if sampler.evidence:
            evidence[part] = dict(sampler.evidence)
    return invalid, json.dumps(evidence, sort_keys=True) if evidence else None


@dataclasses.dataclass(frozen=True)
class _Target:
    """One opened device and what was prepared on it before the first job."""

    device: Device
    staged: dict[str, str]  # artifact (and data file) sha256 -> path on the device
    benchmark_model: str | None  # staged binary's path on the device
    reference: tuple[Sample, ...]  # the reading the run started at: cooldown returns to its temperature
    sources: tuple[EnergySource, ...]
    max_thermal_status: int  # cooldown waits for at most this status (an induced one, else 0)
    description: DeviceDescription

    @property
    def reference_c(self) -> float | None:
        return read_thermal(self.reference).temp_c


def _job_doc(target: _Target, job: PlannedJob, artifact: Artifact, data: dict[str, tuple[Artifact, Artifact]],
             workload: Workload | None = None, job_id: str | None = None) -> dict[str, Any]:
    w = workload or job.workload
    files = tuple(target.staged[f.sha256] for f in data[w.data]) if w.data else None
    # synthetic inputs come from the ranges of the artifact's input spec (its task's), on every runner
    ranges = {i["name"]: [i["low"], i["high"]] for i in artifact.manifest.get("inputs", ())}
    cpus, _ = resolve_cpus(w.cpus, target.description)
    return job.protocol_job(target.staged[artifact.sha256], artifact.sha256, files, workload, job_id, ranges, cpus)


def _run_checked(device: Device, job_doc: dict[str, Any], log: EventLog, timeout_s: float,
                 runner: str = "companion") -> None:
    """Run one protocol job into `log`, checking every event against the protocol as it arrives.

    A malformed or out-of-order event fails the job right there, naming the event and its fault.
    """
    check = StreamCheck(job_doc["job_id"])

    def checked(event: dict[str, Any]) -> None:
        try:
            check(event)
        except ProtocolError as exc:
            raise CompanionAppError(f"the runner broke the job protocol: {exc}") from exc
        log.append(event)

    device.run(job_doc, checked, timeout_s=timeout_s, runner=runner)


def _with_background(target: _Target, job: PlannedJob, foreground: dict[str, Any], fg_log: EventLog,
                     background: dict[str, Any], on_event: Callable[[dict[str, Any]], None], timeout_s: float
                     ) -> EventLog:
    """Run `background` (a train job) and, once its first step ran, `foreground` beside it into `fg_log`;
    the background's log (its events also go to `on_event`). The user-felt latency is the foreground's.
    """
    stepping = threading.Event()
    result: dict[str, Any] = {}

    def on_background(event: dict[str, Any]) -> None:
        on_event(event)
        if event["event"] != "started":  # a train step ran (or the job ended)
            stepping.set()

    bg_log = EventLog(on_background)

    def run_background() -> None:
        try:
            _run_checked(target.device, background, bg_log, timeout_s, job.workload.runner)
        except DeviceError as exc:
            result["error"] = exc
        finally:
            stepping.set()

    thread = threading.Thread(target=run_background, name=f"{job.job_id}-background")
    thread.start()
    try:
        stepping.wait()
        _run_checked(target.device, foreground, fg_log, timeout_s, job.workload.runner)
    finally:
        thread.join()
    if "error" in result:
        raise result["error"]
    return bg_log


def _execute(target: _Target, job: PlannedJob, artifact: Artifact, data: dict[str, tuple[Artifact, Artifact]],
             workloads: dict[str, Workload], on_event: Callable[[dict[str, Any]], None], timeout_s: float,
             log: EventLog) -> dict[str, Any]:
    """Run one job with its workload's runner into `log` (its own stream), a background job's events to
    `on_event`; the job's summary columns."""
    job_doc = _job_doc(target, job, artifact, data)
    if not target.device.capabilities.runner(job.workload.runner).events:
        # An aggregates-only runner (benchmark_model): no events are stored, none are made up.
        assert target.benchmark_model is not None
        return summarize_benchmark_model(
            target.device.run_benchmark_model(target.benchmark_model, job_doc, timeout_s=timeout_s))
    if job.workload.background is None:
        _run_checked(target.device, job_doc, log, timeout_s, job.workload.runner)
        return summarize_events(log)
    background = workloads[job.workload.background]
    behind = _with_background(target, job, job_doc, log,
                              _job_doc(target, job, artifact, data, background, background_stream(job.job_id)),
                              on_event, timeout_s)
    return {
        **summarize_events(log), "background_workload": background.name,
        "background_status": summarize_events(behind)["status"],
        "background_steps": behind.timed,
        "background_overlap": _overlap(log, behind),
    }


def _overlap(foreground: EventLog, background: EventLog) -> float | None:
    """Share of the foreground's measured invokes that ran entirely while background steps were running.

    Below 1 means the background workload was too short to cover the foreground (give it more steps).
    """
    starts, ends = foreground.spans()
    steps = background.timed_span()
    if not starts.size or steps is None:
        return None if not starts.size else 0.0
    return float(np.mean((steps[0] <= starts) & (ends <= steps[1])))


def _run_job(target: _Target, job: PlannedJob, artifact: Artifact, data: dict[str, tuple[Artifact, Artifact]],
             suite: Suite, reporter: Reporter, job_timeout_s: float | None, sink: Callable[[dict[str, Any]], None],
             latest: Sequence[Sample] = ()) -> tuple[dict[str, Any], list[Sample]]:
    """Cool down, take the baseline, run and sample one job: its result row and samples; its events go to
    `sink` (the store's) as they arrive. `latest`, the device's newest readings (the previous job's), is the
    cool-down's first.

    A job that fails keeps the events it streamed and the samples it had. DeviceLost when the device is
    gone before the job started; a device lost during the job gives a row with error_code `DeviceLost`.
    """
    device = target.device
    try:
        cooled = cool_down(device, target.reference_c, max_status=target.max_thermal_status,
                           timeout_s=suite.cooldown_timeout_s, latest=latest)
        baseline, baseline_sampler = _idle_baseline(device, suite.baseline_s)
    except DeviceError as exc:
        if _reachable(device):
            raise
        raise DeviceLost(f"{device.id} stopped answering before job {job.job_id} ({_gist(exc)})") from exc
    reporter.job_started(job, _expected_events(job))
    started_utc = utc_now()

    def on_event(event: dict[str, Any]) -> None:
        sink(event)
        reporter.event(job, event)

    log = EventLog(on_event, spans=job.workload.background is not None or job.workload.sustained_s is not None)
    samples: list[Sample] = []
    summary = {**summarize_events([]), "runner": job.workload.runner}
    error: DeviceError | None = None
    sampler: TelemetrySampler | None = None
    try:
        sampler = device.sampler()
        sampler.start()
    except DeviceError as exc:
        sampler, error = None, exc
    if sampler is not None:
        try:
            summary = _execute(target, job, artifact, data, {w.name: w for w in suite.workloads}, sink,
                               _timeout(job.workload, job_timeout_s), log)
        except DeviceError as exc:
            error = exc
        try:
            samples = sampler.stop()
        except DeviceError as exc:
            error = error or exc
    if error is not None and not _reachable(device):
        error = DeviceLost(f"{device.id} stopped answering during job {job.job_id} ({_gist(error)})")
    invalid, evidence = _telemetry_verdict(baseline_sampler, sampler)
    row: dict[str, Any] = {
        "job_id": job.job_id, "order": job.order, "model": job.model, "variant": job.variant,
        "workload": job.workload.name, "signature": job.workload.signature, "device_id": job.device,
        "repetition": job.repetition, "threads": job.workload.threads, "delegate": job.workload.delegate,
        "artifact_sha256": artifact.sha256, "started_utc": started_utc, "data": job.workload.data,
        "baseline_samples": len(baseline), "telemetry_evidence": evidence,
        **summary,
        **placement_row(job.workload.delegate, _cpus_text(job.workload, target.description), summary, samples,
                        sampler.governor if sampler else None),
        **(sustained_columns(job.workload.sustained_s, throttling_curve(*log.spans(), log.latencies(), samples))
           if job.workload.sustained_s is not None else {}),
        **cooled.to_columns(),
        # with a background job the foreground's energy includes the training beside it
        **energy_columns(*job_energy(target.sources, baseline, samples, log, invalid)),
    }
    if error is not None:
        row.update(status="failed", error_code=type(error).__name__, error_message=str(error))
    return row, baseline + samples


def _cpus_text(workload: Workload, description: DeviceDescription) -> str | None:
    """The workload's `cpus` as stored: what was asked, the CPUs it meant on this device and why."""
    if workload.cpus is None:
        return None
    cpus, how = resolve_cpus(workload.cpus, description)
    return f"{cpu_list(cpus)} ({how})"


def _gist(error: Exception) -> str:
    """The last clause of an error (`device offline`), not the command that met it."""
    return str(error).rsplit(": ", 1)[-1].strip()[:160] or type(error).__name__


def _reachable(device: Device) -> bool:
    try:
        return device.reachable()
    except DeviceError:
        return False


def _timeout(workload: Workload, job_timeout_s: float | None) -> float:
    """The tighter of the workload's `timeout_s` and the command line's, else the default."""
    given = [t for t in (workload.timeout_s, job_timeout_s) if t is not None]
    return min(given) if given else DEFAULT_JOB_TIMEOUT_S


def _stage_benchmark_model(device: Device, plan: Sequence[PlannedJob], suite: Suite) -> str | None:
    """Stage the suite's `benchmark_model` on a device that has jobs for it (`check_devices` made sure it can)."""
    if not any(j.device == device.id and j.workload.runner == "benchmark_model" for j in plan):
        return None
    assert suite.benchmark_model is not None  # the suite checks a binary is named when a workload uses it
    return device.stage_benchmark_model(suite.benchmark_model)


def _restore_all(devices: Mapping[str, Device], lost: Mapping[str, str]) -> list[str]:
    """Restore and close every device (those that do not share compute at once), even when one fails; the
    failures, as messages.

    A lost device cannot be restored now: its journal on the device undoes its conditions when it is next
    opened (the next bench, `harness restore`).
    """
    def restore(device: Device) -> str | None:
        try:
            if device.id not in lost:
                device.restore()
        except DeviceError as exc:
            return f"{device.id}: {exc}"
        finally:
            with contextlib.suppress(DeviceError):
                device.close()
        return None

    return [failure for failure in _per_device(devices, restore).values() if failure]


def _metadata(suite: Suite, suite_path: Path | None, devices: dict[str, Device],
              descriptions: dict[str, DeviceDescription], artifacts: dict[str, Artifact]) -> dict[str, Any]:
    return {
        "suite": {"name": suite.name, "path": str(suite_path) if suite_path else None, "source": suite.source},
        "git_commit": git_commit(),
        "host": host_info(),
        "packages": package_versions(),
        "devices": [{**descriptions[d].to_dict(), "capabilities": devices[d].capabilities.to_dict()} for d in devices],
        "artifacts": {name: a.manifest for name, a in artifacts.items()},
        "conditions": {c.name: c.value for c in suite.conditions},
    }


def run_bench(suite: Suite, store: Store, *, suite_path: Path | None = None,
              device_ids: Sequence[str] | None = None, reporter: Reporter | None = None,
              open_device: DeviceOpener = open_device, job_timeout_s: float | None = None) -> BenchResult:
    """Run a whole suite and store it; KeyboardInterrupt leaves an `interrupted` run behind.

    `open_device(id)` gives the device for an id (default: the backend registry); tests and phone
    twins inject their own. Nothing is stored when a job asks a device for what it cannot do. A job still
    running after `job_timeout_s` (or its workload's tighter `timeout_s`) fails as hung; the run goes on.
    A device lost mid-run stores its job as failed (`DeviceLost`), the other devices carry on, and the run
    ends `incomplete`: `resume_bench` runs what is missing.
    """
    plan = make_plan(suite, tuple(device_ids) if device_ids else None)
    return _bench(suite, plan, plan, lambda metadata: store.create_run(metadata, len(plan)),
                  suite_path=suite_path, reporter=reporter or Reporter(), open_device=open_device,
                  job_timeout_s=job_timeout_s)


def resume_bench(store: Store, run_ref: str, *, reporter: Reporter | None = None,
                 open_device: DeviceOpener = open_device, job_timeout_s: float | None = None) -> BenchResult:
    """Run the jobs an `incomplete` or `interrupted` run lacks (and those lost with their device) into it.

    The suite is the one stored with the run; every artifact must still build to the sha256 the run used.
    A lost job's stored attempt is kept under the run's `attempts/`; the run ends `complete` once every
    planned job is stored.
    """
    manifest = store.manifest(run_ref)
    run_id = manifest["run_id"]
    if manifest["status"] == "complete":
        raise UserError(f"run {run_id} is complete: nothing to resume")
    if manifest["status"] == "running":
        owner = manifest.get("process") or {}
        raise UserError(f"run {run_id} is still running (pid {owner.get('pid', '?')} on "
                        f"{owner.get('hostname', '?')}); wait for it, or stop it first")
    suite = parse_suite(manifest["suite"]["source"], f"run {run_id}'s suite")
    plan = make_plan(suite, tuple(d["id"] for d in manifest["devices"]))
    stored = store.results(run_id)
    _check_resumable(run_id, manifest, plan, stored)
    lost = set(stored.loc[stored["error_code"] == DeviceLost.__name__, "job_id"])
    done = set(stored["job_id"]) - lost
    todo = [job for job in plan if job.job_id not in done]
    used = dict(zip(stored["variant"], stored["artifact_sha256"], strict=True))

    def reopen(metadata: dict[str, Any]) -> RunWriter:
        return store.reopen(run_id, set_aside=sorted(lost), resume={
            "started_utc": utc_now(), "git_commit": metadata["git_commit"], "jobs": [j.job_id for j in todo]})

    return _bench(suite, plan, todo, reopen, reporter=reporter or Reporter(), open_device=open_device,
                  job_timeout_s=job_timeout_s, artifacts_used=used)


def _check_resumable(run_id: str, manifest: dict[str, Any], plan: Sequence[PlannedJob], stored: Any) -> None:
    """The stored suite plans the run's jobs as they were stored; UserError otherwise."""
    if len(plan) != manifest["jobs_planned"]:
        raise UserError(f"run {run_id}: its suite now plans {len(plan)} jobs, the run planned "
                        f"{manifest['jobs_planned']}; it cannot be resumed")
    planned = {j.job_id: (j.variant, j.workload.name, j.device, j.repetition) for j in plan}
    for row in stored.itertuples():
        if planned.get(row.job_id) != (row.variant, row.workload, row.device_id, row.repetition):
            raise UserError(f"run {run_id}: stored job {row.job_id} is not the job its suite plans under that id; "
                            "it cannot be resumed")


def _check_artifacts_used(artifacts: Mapping[str, Artifact], used: Mapping[str, str]) -> None:
    for name, sha in used.items():
        if name in artifacts and artifacts[name].sha256 != sha:
            raise UserError(f"variant {name!r} now builds to sha256 {artifacts[name].sha256[:12]}…, the run used "
                            f"{sha[:12]}…: resuming would mix two models; start a new run")


def _lanes(todo: Sequence[PlannedJob], devices: Mapping[str, Device]) -> list[list[PlannedJob]]:
    """The jobs by the compute their device runs on (`Device.compute`), each lane in plan order: devices that
    share it (the host and the twins it runs) take turns, so none skews another's numbers; the rest run at
    once (phones)."""
    lanes: dict[str, list[PlannedJob]] = {}
    for job in todo:
        lanes.setdefault(devices[job.device].compute, []).append(job)
    return list(lanes.values())


def _per_device(devices: Mapping[str, Device], work: Callable[[Device], _T]) -> dict[str, _T]:
    """`work(device)` for every device, those that do not share compute at once (phones of a lab, each its own
    round trips); the results by device id, the first error raised."""
    groups: dict[str, list[Device]] = {}
    for device in devices.values():
        groups.setdefault(device.compute, []).append(device)
    with ThreadPoolExecutor(max_workers=len(groups) or 1) as pool:
        done = [pool.submit(lambda group: [(d.id, work(d)) for d in group], g) for g in groups.values()]
        results = dict(pair for future in done for pair in future.result())
    return {d: results[d] for d in devices}


def _run_lanes(lanes: Sequence[Sequence[PlannedJob]],
               run_lane: Callable[[Sequence[PlannedJob], threading.Event], None]) -> None:
    """Each lane's jobs in order, the lanes at once (one thread each; a single lane runs here).

    Ctrl-C stops every lane after the job it is running (a second one stops waiting for them); a lane's
    error stops the others the same way and is raised here.
    """
    stop = threading.Event()
    if len(lanes) <= 1:
        for lane in lanes:
            run_lane(lane, stop)
        return
    errors: list[BaseException] = []

    def work(lane: Sequence[PlannedJob]) -> None:
        try:
            run_lane(lane, stop)
        except BaseException as exc:  # noqa: BLE001 (handed to the main thread)
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=work, args=(lane,), name=f"lane-{i}", daemon=True)
               for i, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]


def _bench(suite: Suite, plan: Sequence[PlannedJob], todo: Sequence[PlannedJob],
           start_run: Callable[[dict[str, Any]], RunWriter], *, reporter: Reporter, open_device: DeviceOpener,
           job_timeout_s: float | None, suite_path: Path | None = None,
           artifacts_used: Mapping[str, str] | None = None) -> BenchResult:
    """Open the devices `todo` needs, prepare them, run `todo` into the run `start_run(metadata)` gives."""
    formats = _check_variants(suite.variants)
    devices: dict[str, Device] = {}
    writer: RunWriter | None = None
    status = "failed"
    rows: list[dict[str, Any]] = []
    restore_failures: list[str] = []
    lost: dict[str, str] = {}  # device id -> why it was lost
    locks = contextlib.ExitStack()
    try:
        for device_id in dict.fromkeys(job.device for job in todo):
            # one harness process per device: concurrent benches would skew each other's numbers
            locks.enter_context(device_lock(device_id, f"bench of suite {suite.name!r}"))
            devices[device_id] = open_device(device_id)
        owner = f"{host_info().get('hostname', '?')} pid {os.getpid()}, bench of suite {suite.name!r}"
        for device_id, note in _per_device(devices, lambda dev: dev.claim(owner)).items():
            if note:
                reporter.note(f"{device_id}: {note}")
        check_devices(todo, suite, devices, formats)
        artifacts = resolve_artifacts(suite.variants, reporter)
        _check_artifacts_used(artifacts, artifacts_used or {})
        check_artifacts(todo, artifacts)
        data = resolve_data(suite)
        # described once, before anything is induced: the manifest shows each device as it was
        descriptions = _per_device(devices, lambda dev: dev.describe())
        targets = _per_device(devices, lambda dev: _prepare(dev, descriptions[dev.id], todo, suite, artifacts, data))
        metadata = _metadata(suite, suite_path, devices, descriptions, artifacts)
        for device in devices.values():
            for condition in suite.conditions:
                device.induce(condition.name, condition.value)
        writer = start_run(metadata)
        stored = threading.Lock()  # lanes store their jobs one at a time

        def run_lane(lane: Sequence[PlannedJob], stop: threading.Event) -> None:
            # per device, its newest readings: the reference one unless a condition was induced since
            latest = {d: () if suite.conditions else targets[d].reference for d in {j.device for j in lane}}
            for i, job in enumerate(lane):
                if stop.is_set():
                    return
                if job.device in lost:
                    continue
                with writer.job_events(job.job_id) as sink:
                    try:
                        row, samples = _run_job(targets[job.device], job, artifacts[job.variant], data, suite,
                                                reporter, job_timeout_s, sink, latest[job.device])
                    except DeviceLost as exc:
                        lost[job.device] = str(exc)
                    else:
                        with stored:
                            writer.write_job(row, sink, samples)
                            rows.append(row)
                        # its sampler's last reading (newer than the baseline's) unless the job failed
                        latest[job.device] = samples if row["status"] == "ok" else ()
                        reporter.job_finished(job, row)
                        if row["error_code"] == DeviceLost.__name__:
                            lost[job.device] = row["error_message"]
                if job.device in lost:
                    left = sum(j.device == job.device for j in lane[i:])
                    reporter.device_lost(job.device, lost[job.device], left, writer.run_id)

        _run_lanes(_lanes(todo, devices), run_lane)
        rows.sort(key=lambda r: r["order"])
        status = "complete" if writer.manifest["jobs_done"] == len(plan) and not lost else "incomplete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        restore_failures = _restore_all(devices, lost)
        if writer is not None:
            if restore_failures:
                writer.manifest["restore_failures"] = restore_failures
            writer.manifest["lost"] = {**writer.manifest.get("lost", {}), **lost}
            writer.finish(status)
        locks.close()
    if restore_failures:  # only reached without another error in flight; that one would matter more
        raise DeviceError("could not restore " + "; ".join(restore_failures))
    return BenchResult(writer.run_id, writer.dir, status, tuple(rows))


def _prepare(device: Device, description: DeviceDescription, plan: Sequence[PlannedJob], suite: Suite,
             artifacts: dict[str, Artifact], data: dict[str, tuple[Artifact, Artifact]]) -> _Target:
    """Stage artifacts and data files (and `benchmark_model` where used); take the run's reference readings."""
    thermal = [c.value for c in suite.conditions if c.name == "thermal_status"]
    device.check_runners({j.workload.runner for j in plan if j.device == device.id})
    return _Target(
        device=device,
        staged=device.stage([*artifacts.values(), *(f for pair in data.values() for f in pair)]),
        benchmark_model=_stage_benchmark_model(device, plan, suite),
        # the temperature the device starts the run at is what cooldown returns to before every job
        reference=tuple(device.snapshot()),
        sources=description.energy_sources,
        max_thermal_status=int(thermal[0]) if thermal else 0,
        description=description,
    )
