"""`sim:<profile>`: a phone twin. Jobs run for real on this computer (the host worker, LiteRT); the phone
around them is modelled (battery, heat, throttling, idle/screen/active power) from the profile's data.

Every sample a twin gives is labelled with its profile: power as `model:<profile>` (an energy source of
kind `modelled`, so job energy is modelled energy), battery, thermal and clock readings as
`model:<profile>/<family>`. Conditions (battery level, unplugged, thermal status, screen off, idle) change
the model, as `dumpsys battery` / `cmd thermalservice` change a phone, and `restore` undoes them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.devices.base import DEFAULT_JOB_TIMEOUT_S, Artifact, DeviceDescription, EventCallback, TelemetrySampler
from harness.devices.capabilities import CONDITIONS, RUNNERS, Capabilities
from harness.devices.host import HostDevice
from harness.devices.sim.profiles import Profile, load_profile, profile_names
from harness.devices.sim.twin import PhoneTwin
from harness.errors import UserError
from harness.events import TIMED, EnergySource, Sample
from harness.policy import PhoneState, Policy

__all__ = ["SimDevice", "SimSampler", "host_ghz"]

PERIOD_S = 0.005  # power every 5 ms; battery, temperatures and status every 100 ms


def host_ghz(cpuinfo: Path = Path("/proc/cpuinfo")) -> float:
    """This computer's core clock (GHz) from /proc/cpuinfo's `cpu MHz`; 3.0 where it does not say."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1]) / 1000
    except (OSError, ValueError):
        pass
    return 3.0


class SimSampler(TelemetrySampler):
    """Collects the twin's readings at every step of its physics between `start()` and `stop()`."""

    def __init__(self, twin: PhoneTwin):
        self._twin, self._samples = twin, []
        self._lock = threading.Lock()

    def _take(self, samples: list[Sample]) -> None:
        with self._lock:
            self._samples.extend(samples)

    def start(self) -> None:
        self._twin.advance_to(time.monotonic_ns(), exact=True)
        self._take(self._twin.readings())
        self._twin.record(self._take)

    def stop(self) -> list[Sample]:
        self._twin.advance_to(time.monotonic_ns(), exact=True)
        self._twin.unrecord(self._take)
        with self._lock:
            return list(self._samples)


class _Paused(Exception):
    """The policy stopped a running update (raised out of the event callback: the worker is stopped)."""


class SimDevice(HostDevice):
    """A modelled phone that runs its jobs through the host worker."""

    scheme = "sim"
    capabilities = Capabilities(
        formats=("tflite",),
        runners=(dataclasses.replace(RUNNERS["companion"], description="the host worker, with the phone modelled "
                                     "around it", delegates=("cpu", "xnnpack")),),
        conditions=("unplugged", "battery_level", "thermal_status", "screen_off", "idle"),
    )

    @classmethod
    def open(cls, device_id: str) -> SimDevice:
        scheme, _, name = device_id.partition(":")
        if scheme != "sim" or not name:
            raise UserError(f"bad device id {device_id!r}: expected sim:<profile> ({', '.join(profile_names())})")
        return cls(load_profile(name))

    @classmethod
    def discover(cls) -> list[SimDevice]:
        return [cls(load_profile(name)) for name in profile_names()]

    def __init__(self, profile: Profile):
        super().__init__()
        self.profile = profile
        self.id = f"sim:{profile.name}"
        self.twin = PhoneTwin(profile, time.monotonic_ns(), PERIOD_S)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._host_ghz = host_ghz()
        self.induced: dict[str, Any] = {}
        self.unmetered = True  # the twin's network (a usage trace may say otherwise)

    def describe(self) -> DeviceDescription:
        p = self.profile
        host = super().describe()
        return DeviceDescription(
            id=self.id, kind="sim", model=p.model, os=p.os, soc=p.soc, abi=host.abi, cores=len(p.core_ghz),
            battery_capacity_mah=p.battery.capacity_mah, accelerators=("cpu", "xnnpack"),
            energy_sources=(EnergySource(p.label, available=True, kind="modelled", rate_hz=1 / PERIOD_S),),
            extra={"modelled": f"{p.description}; jobs run on this host ({host.soc}, {self._host_ghz:.2f} GHz), "
                               "battery, heat and power are modelled", "profile": p.name,
                   "thermal_sources": f"modelled ({', '.join(p.thermal.nodes)} nodes)"},
        )

    def stage(self, artifacts: Sequence[Artifact]) -> dict[str, str]:
        staged = super().stage(artifacts)
        for artifact in artifacts:
            self._manifests[artifact.sha256] = dict(artifact.manifest)
        return staged

    def _cost_of(self, job: dict[str, Any]) -> tuple[int | None, int | None, str]:
        manifest = self._manifests.get(job.get("artifact", {}).get("sha256", ""), {})
        dtype = "int8" if "int8" in str(manifest.get("quantization") or "") else "fp32"
        return manifest.get("macs_per_inference"), manifest.get("macs_per_train_step"), dtype

    def run(self, job: dict[str, Any], on_event: EventCallback | None = None, *,
            timeout_s: float = DEFAULT_JOB_TIMEOUT_S, runner: str = "companion") -> list[dict[str, Any]]:
        infer_macs, train_macs, dtype = self._cost_of(job)
        threads = int(job.get("threads") or 1)
        twin = self.twin
        collected: list[dict[str, Any]] = []
        emit = on_event or collected.append
        policy = Policy(**job["policy"]) if job.get("signature") == "train" and job.get("policy") else None
        twin.advance_to(time.monotonic_ns(), exact=True)
        if policy is not None and policy.blockers(self.phone_state()):
            # the phone's scheduler (WorkManager, BGProcessingTask) does not start it: the job never runs
            emit({"event": "started", "job_id": job["job_id"], "protocol": job["protocol"],
                  "t_ns": time.monotonic_ns(), "runner": {"name": "sim-scheduler", "version": "1"}})
            why = "; ".join(policy.blockers(self.phone_state()))
            emit({"event": "error", "job_id": job["job_id"], "code": "policy_deferred",
                  "message": f"policy {policy.name!r} defers the update: {why}"})
            return collected

        def modelled(event: dict[str, Any]) -> None:
            if event.get("event") in TIMED and "start_ns" in event:
                twin.advance_to(event["start_ns"])
                macs = train_macs if event["event"] == "train_step" else infer_macs
                host_s = (event["end_ns"] - event["start_ns"]) / 1e9
                cost = self.profile.invoke_cost(host_s, self._host_ghz, threads, macs,
                                                dtype if event["event"] == "invoke" else "fp32", twin.clock)
                twin.deposit(event["start_ns"], event["end_ns"], cost.energy_j)
            emit(event)
            if policy is not None and event.get("event") == "train_step":
                twin.advance_to(event["end_ns"])
                why = policy.blockers(self.phone_state())
                if why:
                    raise _Paused(f"policy {policy.name!r} paused the update after step {event['step']}: "
                                  + "; ".join(why))

        twin.awake = True
        try:
            super().run(job, modelled, timeout_s=timeout_s, runner=runner)
        except _Paused as paused:  # the worker was stopped; the update resumes when the policy allows
            emit({"event": "error", "job_id": job["job_id"], "code": "policy_paused", "message": str(paused)})
        finally:
            twin.advance_to(time.monotonic_ns(), exact=True)
            twin.awake = False
        return collected

    def sampler(self) -> TelemetrySampler:
        return SimSampler(self.twin)

    def phone_state(self) -> PhoneState:
        """What the phone's scheduler sees now."""
        twin = self.twin
        return PhoneState(charging=twin.battery.plugged, battery_pct=twin.level_pct, thermal_status=twin.status,
                          unmetered=self.unmetered, screen_on=twin.screen_on)

    def induce(self, condition: str, value: Any = None) -> None:
        if condition not in self.capabilities.conditions:
            raise UserError(f"{self.id} cannot induce {condition!r}")
        CONDITIONS[condition].check(value)
        twin = self.twin
        twin.advance_to(time.monotonic_ns(), exact=True)
        if condition not in self.induced:  # what restore puts back
            self.induced[condition] = {"unplugged": twin.battery.plugged, "battery_level": twin.battery.soc,
                                       "thermal_status": twin.status_override, "screen_off": twin.screen_on,
                                       "idle": twin.idle}[condition]
        if condition == "unplugged":
            twin.battery.plugged = False
        elif condition == "battery_level":
            twin.battery.soc = value / 100
        elif condition == "thermal_status":
            twin.status_override = value
        elif condition == "screen_off":
            twin.screen_on = False
        elif condition == "idle":
            twin.idle = True

    def plug(self, plugged: bool = True) -> None:
        """Put the twin on (or off) its charger: what a usage trace's charging window does."""
        self.twin.advance_to(time.monotonic_ns(), exact=True)
        self.twin.battery.plugged = plugged

    def restore(self) -> None:
        twin = self.twin
        twin.advance_to(time.monotonic_ns(), exact=True)
        for condition, before in self.induced.items():
            if condition == "unplugged":
                twin.battery.plugged = before
            elif condition == "battery_level":
                twin.battery.soc = before
            elif condition == "thermal_status":
                twin.status_override = before
            elif condition == "screen_off":
                twin.screen_on = before
            elif condition == "idle":
                twin.idle = before
        self.induced = {}
