"""The orchestrator's side of the lab: a `Device` whose every operation is a task of its phone's actor.

`lab_opener(address)` is the device opener `harness.bench` takes: phones (`android:<serial>`) open as
`LabDevice`s on the cluster at `address`, everything else (`host`, `sim:<profile>`) opens here as before.
Artifacts and samples travel through Ray's object store, events one at a time through a streaming
generator, so the orchestrator and the lab hosts share no filesystem.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError, TaskCancelledError

from harness.devices import open_device
from harness.devices.base import (
    DEFAULT_JOB_TIMEOUT_S,
    Artifact,
    Device,
    DeviceDescription,
    EventCallback,
    TelemetrySampler,
)
from harness.errors import DeviceError, HarnessError, UserError
from harness.events import AggregateTimings, Sample
from harness.lab.actor import LEASE_S, PhoneInfo, StagedBytes

__all__ = ["NAMESPACE", "LAB_SCHEMES", "LabDevice", "connect", "lab_opener", "lab_phones"]

NAMESPACE = "harness-lab"
LAB_SCHEMES = ("android",)  # device id schemes whose devices live on lab hosts
_ANSWER_S = 30.0  # an actor that does not answer a lease or reachability question within this is gone


def connect(address: str) -> None:
    """Join the Ray cluster at `address` as a driver (once per process); UserError in one line if it is not there."""
    if ray.is_initialized():
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"bad lab address {address!r}: expected the Ray head's host:port, e.g. lab-head:6379")
    try:  # ray.init would retry an address nobody listens on for minutes
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"no Ray cluster at {address} ({exc.strerror or exc}); start its head with `ray start "
                        f"--head --port {port}` (README: the device lab)") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"no Ray cluster at {address!r} ({str(exc).splitlines()[0][:160]}); start its head with "
                        "`ray start --head` (README: the device lab)") from None


def lab_phones() -> dict[str, str]:
    """Device id -> lab host of every phone an agent serves now."""
    names = [n["name"] for n in ray.util.list_named_actors(all_namespaces=True) if n["namespace"] == NAMESPACE]
    phones = {}
    for name in names:
        try:
            phones[name] = _get(ray.get_actor(name, NAMESPACE).phone.remote(), name, timeout=_ANSWER_S).host
        except (DeviceError, ValueError):
            continue  # gone between the listing and the question
    return phones


def lab_opener(address: str) -> Callable[[str], Device]:
    """The device opener for a bench on the lab at `address`."""
    connect(address)

    def open_on_lab(device_id: str) -> Device:
        if device_id.partition(":")[0] not in LAB_SCHEMES:
            return open_device(device_id)
        try:
            actor = ray.get_actor(device_id, NAMESPACE)
        except ValueError:
            served = ", ".join(sorted(lab_phones())) or "none"
            raise UserError(f"{device_id} is not on the lab at {address} (its phones: {served}); is its host's "
                            "`harness lab agent` running?") from None
        return LabDevice(_get(actor.phone.remote(), device_id, timeout=_ANSWER_S), actor)

    return open_on_lab


def _get(ref: Any, device_id: str, timeout: float | None = None) -> Any:
    """`ray.get`, errors translated (`_answers`)."""
    with _answers(device_id):
        return ray.get(ref, timeout=timeout)


@contextlib.contextmanager
def _answers(device_id: str) -> Iterator[None]:
    """The actor's own errors raised as they were; a lost actor (its host gone) as one DeviceError."""
    try:
        yield
    except RayTaskError as exc:
        if isinstance(exc.cause, HarnessError):
            raise exc.cause from None
        gist = str(exc.cause or exc).splitlines()[-1][:200]
        raise DeviceError(f"{device_id}: the lab actor failed: {gist}") from None
    except (RayActorError, GetTimeoutError, TaskCancelledError) as exc:
        raise DeviceError(f"{device_id}: its lab actor is gone ({type(exc).__name__})") from None


class _LabSampler(TelemetrySampler):
    def __init__(self, device: LabDevice):
        self._device, self._key = device, None

    def start(self) -> None:
        self._key = self._device._task("sampler_start")

    def stop(self) -> list[Sample]:
        if self._key is None:
            return []
        samples, told = self._device._task("sampler_stop", self._key)
        self._key = None
        for name, value in told.items():
            setattr(self, name, value)
        return samples


class LabDevice(Device):
    """A phone on a lab host, driven through its actor under this session's lease."""

    scheme = "lab"

    def __init__(self, info: PhoneInfo, actor: Any):
        self.id, self.info, self._actor = info.device_id, info, actor
        self.capabilities = info.capabilities  # type: ignore[misc] (the phone's backend's, read from its actor)
        self._token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._renewing = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def compute(self) -> str:
        return self.info.compute

    def _task(self, method: str, *args: Any) -> Any:
        return _get(getattr(self._actor, method).remote(self._token, *args), self.id)

    def _call(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return _get(self._actor.call.remote(self._token, name, args, kwargs), self.id, timeout=timeout)

    def claim(self, owner: str) -> str:
        """The phone's lab lease (DeviceBusy naming the holder), renewed until `close()`; then the phone's own lock."""
        note = _get(self._actor.acquire.remote(self._token, owner), self.id, timeout=_ANSWER_S)
        self._renewer = threading.Thread(target=self._renew, name=f"lab-lease-{self.id}", daemon=True)
        self._renewer.start()
        return "; ".join(n for n in (note, self._call("claim", owner)) if n)

    def _renew(self) -> None:
        while not self._renewing.wait(LEASE_S / 6):
            try:
                _get(self._actor.renew.remote(self._token), self.id, timeout=_ANSWER_S)
            except DeviceError:
                return  # lost or taken over: the next operation says so

    def describe(self) -> DeviceDescription:
        return self._call("describe")

    def stage(self, artifacts: Sequence[Artifact]) -> dict[str, str]:
        missing = set(self._task("missing", [a.sha256 for a in artifacts]))
        return self._task("stage", [self._bytes(a.name, a.path, a.sha256, a.manifest, missing) for a in artifacts])

    @staticmethod
    def _bytes(name: str, path: Path, sha256: str, manifest: dict[str, Any], missing: set[str]) -> StagedBytes:
        data = ray.put(path.read_bytes()) if sha256 in missing else None
        return StagedBytes(name, sha256, path.suffix, manifest, data)

    def stage_benchmark_model(self, binary: Path) -> str:
        from harness.checksum import sha256_file

        digest = sha256_file(binary)
        missing = set(self._task("missing", [digest]))
        return self._task("stage_benchmark_model", self._bytes(binary.name, binary, digest, {}, missing))

    def run(self, job: dict[str, Any], on_event: EventCallback | None = None, *,
            timeout_s: float = DEFAULT_JOB_TIMEOUT_S, runner: str = "companion") -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        stream = self._actor.run.options(num_returns="streaming").remote(self._token, job, timeout_s, runner)
        try:
            with _answers(self.id):
                for ref in stream:
                    (on_event or events.append)(ray.get(ref))
        except BaseException:
            ray.cancel(stream)  # an event the orchestrator refused (protocol) or Ctrl-C: stop the phone's job
            raise
        return events

    def sampler(self) -> TelemetrySampler:
        return _LabSampler(self)

    def snapshot(self) -> list[Sample]:
        return self._call("snapshot")

    def check_runners(self, runners: set[str]) -> None:
        self._call("check_runners", runners)

    def reachable(self) -> bool:
        try:
            return bool(self._call("reachable", timeout=_ANSWER_S))
        except DeviceError:
            return False

    def induce(self, condition: str, value: Any = None) -> None:
        self._call("induce", condition, value)

    def restore(self) -> None:
        self._call("restore")

    def run_benchmark_model(self, binary: str, job: dict[str, Any], *,
                            timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> AggregateTimings:
        return self._call("run_benchmark_model", binary, job, timeout_s=timeout_s)

    def forget_personalization(self, variant: str | None = None) -> list[str]:
        return self._call("forget_personalization", variant)

    def close(self) -> None:
        """Free the lease (the actor closes the phone); never raises: the actor may be gone with its host."""
        self._renewing.set()
        try:
            _get(self._actor.release.remote(self._token), self.id, timeout=_ANSWER_S)
        except DeviceError:
            pass

