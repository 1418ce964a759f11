"""The `host` device: runs jobs on this computer with LiteRT in a worker process.

The worker is the protocol's reference runner (`python -m harness.host_runner`), so a model that
crashes the interpreter ends one job, not the orchestrator. Energy comes from RAPL where the kernel
exposes it readable; otherwise the description says why there is none.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.checksum import sha256_file
from harness.devices.base import (
    DEFAULT_JOB_TIMEOUT_S,
    Artifact,
    Device,
    DeviceDescription,
    EventCallback,
    TelemetrySampler,
    governor_text,
)
from harness.devices.capabilities import RUNNERS, Capabilities
from harness.errors import CompanionAppError, DeviceError, DeviceTimeout, UserError
from harness.events import EnergySource, Received, Sample

__all__ = ["HostDevice", "HostSampler"]

POWERCAP = Path("/sys/class/powercap")
THERMAL = Path("/sys/class/thermal")
CPU = Path("/sys/devices/system/cpu")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _rapl_domains(root: Path = POWERCAP) -> tuple[list[Path], str]:
    """Readable RAPL domain dirs (with energy_uj), or none and the reason."""
    if not root.is_dir():
        return [], f"no {root} on this machine (no RAPL driver, e.g. a VM or a non-Intel/AMD CPU)"
    domains = sorted(p for p in root.glob("intel-rapl:*") if (p / "energy_uj").exists())
    if not domains:
        return [], f"no intel-rapl:* domains under {root}"
    readable = [p for p in domains if os.access(p / "energy_uj", os.R_OK)]
    if not readable:
        return [], f"{domains[0] / 'energy_uj'} is not readable (root only since CVE-2020-8694)"
    return readable, ""


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _rapl_wrap_j(domains: Sequence[Path]) -> float | None:
    """The counters' common wrap point (max_energy_range_uj) in J; None if unknown or domains differ."""
    ranges = {_read_int(d / "max_energy_range_uj") for d in domains}
    return ranges.pop() / 1e6 if len(ranges) == 1 and None not in ranges else None


def _cpu_max_khz(root: Path = CPU) -> str:
    """Each core's maximum clock as "id:kHz,..." (empty where cpufreq is not exposed, e.g. in a VM)."""
    clocks = {int(p.parent.parent.name[3:]): _read_int(p) for p in root.glob("cpu[0-9]*/cpufreq/cpuinfo_max_freq")}
    return ",".join(f"{cpu}:{khz}" for cpu, khz in sorted(clocks.items()) if khz)


class HostSampler(TelemetrySampler):
    """Samples RAPL counters (J, cumulative), thermal zones (C) and cpufreq policy clocks (Hz) in a thread every
    `period_s`; `governor` names the cpufreq governors."""

    def __init__(self, rapl: Sequence[Path], zones: Sequence[Path], period_s: float = 0.1, cpu: Path = CPU):
        self._rapl, self._zones, self._period = list(rapl), list(zones), period_s
        self._policies = sorted(p for p in (cpu / "cpufreq").glob("policy*") if (p / "scaling_cur_freq").exists())
        self.governor = governor_text({p.name: g for p in self._policies
                                       if (g := _read_text(p / "scaling_governor"))})
        self._samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        now = time.monotonic_ns()
        for domain in self._rapl:
            uj = _read_int(domain / "energy_uj")
            if uj is not None:
                name = (domain / "name").read_text().strip() if (domain / "name").exists() else domain.name
                self._samples.append(Sample(now, "rapl", name, uj / 1e6, "J"))
        for zone in self._zones:
            milli = _read_int(zone / "temp")
            if milli is not None:
                self._samples.append(Sample(now, "thermal", zone.name, milli / 1000, "C"))
        for policy in self._policies:
            khz = _read_int(policy / "scaling_cur_freq")
            if khz is not None:
                self._samples.append(Sample(now, "cpufreq", policy.name, khz * 1000.0, "Hz"))

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            self._read()

    def start(self) -> None:
        self._read()
        if self._rapl or self._zones or self._policies:
            self._thread = threading.Thread(target=self._loop, name="host-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._read()
        return list(self._samples)


class HostDevice(Device):
    """This computer, running jobs through the reference runner in a subprocess."""

    scheme = id = "host"
    capabilities = Capabilities(
        formats=("tflite",),
        runners=(dataclasses.replace(RUNNERS["companion"], description="the reference runner in a worker process",
                                     delegates=("cpu", "xnnpack"), background=True),),
    )

    @classmethod
    def open(cls, device_id: str) -> HostDevice:
        if device_id != "host":
            raise UserError(f"bad device id {device_id!r}: this computer is just 'host'")
        return cls()

    @classmethod
    def discover(cls) -> list[Device]:
        return [cls()]

    def __init__(self):
        self._rapl, self._rapl_reason = _rapl_domains()
        self._zones = sorted(p for p in THERMAL.glob("thermal_zone*") if (p / "temp").exists())

    @property
    def compute(self) -> str:
        return "host"  # this computer's CPU: the host device and every backend running jobs here take turns

    def describe(self) -> DeviceDescription:
        rapl = EnergySource(
            "rapl", available=bool(self._rapl), reason=self._rapl_reason,
            rate_hz=10.0 if self._rapl else None, resolution="1 uJ" if self._rapl else "",
            counter_wrap=_rapl_wrap_j(self._rapl),
        )
        return DeviceDescription(
            id=self.id, kind="host", model=platform.node(), os=platform.platform(), soc=_cpu_model(),
            abi=platform.machine(), cores=os.cpu_count() or 1, accelerators=("cpu", "xnnpack"),
            energy_sources=(rapl,), extra={
                "python": platform.python_version(), "thermal_zones": str(len(self._zones)),
                "cpu_max_khz": _cpu_max_khz(),
                "thermal_sources": f"{len(self._zones)} zone{'s' * (len(self._zones) != 1)}" if self._zones
                else f"none (no readable zone under {THERMAL})"},
        )

    def stage(self, artifacts: Sequence[Artifact]) -> dict[str, str]:
        staged = {}
        for artifact in artifacts:
            digest = sha256_file(artifact.path)
            if digest != artifact.sha256:
                raise DeviceError(f"{artifact.path} changed since it was built (sha256 {digest[:12]}…)")
            staged[artifact.sha256] = str(artifact.path.resolve())
        return staged

    def run(self, job: dict[str, Any], on_event: EventCallback | None = None, *,
            timeout_s: float = DEFAULT_JOB_TIMEOUT_S, runner: str = "companion") -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="harness-job-") as tmp:
            job_path = Path(tmp) / "job.json"
            job_path.write_text(json.dumps(job))
            return _stream_worker([sys.executable, "-m", "harness.host_runner", str(job_path)],
                                  on_event, timeout_s)

    def sampler(self) -> TelemetrySampler:
        return HostSampler(self._rapl, self._zones)

    def forget_personalization(self, variant: str | None = None) -> list[str]:
        """The host's runner reads a person's data where the task wrote it (the user cache's per-person .npz
        files) and keeps no delta (get_weights is returned, measured and dropped): the data is what stays."""
        from models.cache import cache_root

        removed = [f"no personalization delta{' of ' + variant if variant else ''} is kept on {self.id}: the runner "
                   "returns get_weights to the harness, which stores only its size and sha256"]
        if variant is not None:
            return [*removed, "per-person training data is shared by every variant: forget without --variant "
                              "removes it"]
        folder = cache_root() / "data" / "bench"
        for path in sorted(folder.rglob("*.npz")) if folder.is_dir() else []:
            path.unlink()
            removed.append(f"removed {path} (a person's training or evaluation windows)")
        if len(removed) == 1:
            removed.append(f"no per-person training data staged under {folder}")
        return removed


def _stream_worker(cmd: list[str], on_event: EventCallback | None, timeout_s: float) -> list[dict[str, Any]]:
    """Run a protocol runner, parse its JSON lines as they come; the stream must end in finished/error.

    Events go to `on_event`; with none, they are collected and returned.
    """
    received = Received(on_event)
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as stderr, subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    ) as proc:

        def _kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, _kill)
        timer.start()
        try:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CompanionAppError(f"runner printed a line that is not JSON: {line[:120]!r}") from exc
                received(event)
        finally:
            timer.cancel()
            if proc.poll() is None and not received.ended:
                proc.kill()
            proc.wait()
        if timed_out.is_set():
            raise DeviceTimeout(f"job did not finish within {timeout_s:.0f} s")
        if not received.ended:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
            raise CompanionAppError(
                f"runner exited with code {proc.returncode} before finishing the job: {' | '.join(tail) or 'no output'}"
            )
    return received.events
