"""The actor that owns one phone on the host it is attached to: the exclusive lease on it, and its device.

Every device operation (describe, stage, run, sample, induce, ...) is a task of the actor's default
concurrency group, which runs one task at a time in the order one caller submits them, so a bench's jobs
reach the phone in the suite's order. Only the lease (`acquire`, `renew`, `holder`) and `phone` answer from
their own group, so a second claimant learns who holds the phone at once, even while a long job runs.

A lease is a token and the holder's one-line description; the holder renews it (`LEASE_S`); a lease not
renewed for that long belongs to a dead orchestrator and the next claimant takes it over. The device is
opened for a lease on its first operation and closed when the lease is released or taken over.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray

from harness.checksum import sha256_file
from harness.devices.base import Artifact, Device
from harness.devices.capabilities import Capabilities
from harness.devices.lock import DeviceBusy
from harness.errors import DeviceError
from harness.events import Sample

__all__ = ["LEASE_S", "PhoneInfo", "PhoneActor", "StagedBytes"]

LEASE_S = 60.0  # a lease nobody renewed for this long is stale (its holder renews every LEASE_S / 6)
_OPERATIONS = frozenset({"describe", "snapshot", "check_runners", "reachable", "claim", "induce", "restore",
                         "run_benchmark_model", "forget_personalization"})
_VERDICT = ("invalid", "evidence", "governor")  # what a sampler tells after stop(), besides its samples


@dataclasses.dataclass(frozen=True)
class PhoneInfo:
    """What the orchestrator needs before its first operation on the phone."""

    device_id: str
    host: str  # the lab host's name (its `harness-host:<name>` resource)
    hostname: str
    capabilities: Capabilities
    compute: str


@dataclasses.dataclass(frozen=True)
class StagedBytes:
    """A file to stage, by content: its bytes travel in the object store only when the host lacks them."""

    name: str
    sha256: str
    suffix: str
    manifest: dict[str, Any]
    data: ray.ObjectRef | None  # None: the host's cache already has this sha256


@dataclasses.dataclass
class _Lease:
    token: str
    owner: str
    renewed: float  # time.monotonic()


class PhoneActor:
    """One phone; `opener()` opens its device on this host (made a Ray actor by `harness.lab.agent`)."""

    def __init__(self, device_id: str, host: str, opener: Callable[[], Device], capabilities: Capabilities):
        self.info = PhoneInfo(device_id, host, socket.gethostname(), capabilities, device_id)
        self._opener = opener
        self._lease: _Lease | None = None
        self._guard = threading.Lock()
        self._device: Device | None = None
        self._session = ""  # the lease token the device is open for
        self._samplers: dict[int, Any] = {}
        self._cache = Path(os.environ.get("HARNESS_LAB_CACHE") or Path(tempfile.gettempdir()) / "phonebench-lab")

    # ------------------------------------------------------------------ the lease (own concurrency group)

    @ray.method(concurrency_group="lease")
    def acquire(self, token: str, owner: str) -> str:
        """Take the lease for `token`; DeviceBusy naming a live holder. A note when a stale lease was taken over."""
        with self._guard:
            lease, now = self._lease, time.monotonic()
            note = ""
            if lease is not None and lease.token != token:
                silent = now - lease.renewed
                if silent < LEASE_S:
                    raise DeviceBusy(f"{self.info.device_id} is in use by {lease.owner} (lab host {self.info.host}); "
                                     "wait for it to finish or stop it")
                note = f"took over the lab lease of {lease.owner}, silent for {silent:.0f} s"
            self._lease = _Lease(token, owner, now)
            return note

    @ray.method(concurrency_group="lease")
    def renew(self, token: str) -> None:
        with self._guard:
            self._holding(token).renewed = time.monotonic()

    @ray.method(concurrency_group="lease")
    def holder(self) -> str | None:
        with self._guard:
            return self._lease.owner if self._lease else None

    def _holding(self, token: str) -> _Lease:
        lease = self._lease
        if lease is None or lease.token != token:
            who = f"{lease.owner}" if lease else "nobody (it was released)"
            raise DeviceBusy(f"{self.info.device_id}: this session no longer holds the phone's lab lease; it is "
                             f"held by {who}")
        return lease

    # ------------------------------------------------------------------ device operations (one at a time)

    @ray.method(concurrency_group="lease")
    def phone(self) -> PhoneInfo:
        """What the phone is, answered at once even while a job runs (a second claimant opens it to learn who
        holds it)."""
        return self.info

    def _open(self, token: str) -> Device:
        """The device, opened for the lease `token` (closing one a taken-over lease left open)."""
        with self._guard:
            self._holding(token).renewed = time.monotonic()
        if self._session != token:
            self._close()
            self._device, self._session = self._opener(), token
        assert self._device is not None
        return self._device

    def _close(self) -> None:
        if self._device is not None:
            self._samplers.clear()
            self._device.close()
        self._device, self._session = None, ""

    def call(self, token: str, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> Any:
        """One device operation by name (`_OPERATIONS`)."""
        if name not in _OPERATIONS:
            raise DeviceError(f"{self.info.device_id}: {name!r} is not a lab operation")
        return getattr(self._open(token), name)(*args, **(kwargs or {}))

    def missing(self, token: str, digests: Sequence[str]) -> list[str]:
        """Of these sha256 digests, those this host's cache lacks."""
        self._open(token)
        return [d for d in digests if not any(self._cache.glob(f"{d}*"))]

    def stage(self, token: str, files: Sequence[StagedBytes]) -> dict[str, str]:
        device = self._open(token)
        return device.stage([Artifact(f.name, self._local(f), f.sha256, f.manifest) for f in files])

    def stage_benchmark_model(self, token: str, binary: StagedBytes) -> str:
        return self._open(token).stage_benchmark_model(self._local(binary))

    def _local(self, file: StagedBytes) -> Path:
        """The file in this host's content-addressed cache, written from the object store when new."""
        path = self._cache / f"{file.sha256}{file.suffix}"
        if file.data is not None and not path.exists():
            self._cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(ray.get(file.data))
            if sha256_file(tmp) != file.sha256:
                tmp.unlink()
                raise DeviceError(f"{file.name}: the bytes that reached lab host {self.info.host} do not match "
                                  f"sha256 {file.sha256[:12]}…")
            tmp.replace(path)
        return path

    def run(self, token: str, job: dict[str, Any], timeout_s: float, runner: str) -> Iterator[dict[str, Any]]:
        """Run one protocol job; a streaming generator yielding each event as the phone sends it."""
        device = self._open(token)
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        end = object()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                device.run(job, events.put, timeout_s=timeout_s, runner=runner)
            except BaseException as exc:  # noqa: BLE001 (raised to the caller below)
                failure.append(exc)
            finally:
                events.put(end)

        thread = threading.Thread(target=work, name=f"run-{job.get('job_id')}", daemon=True)
        thread.start()
        while (event := events.get()) is not end:
            yield event
        thread.join()
        if failure:
            raise failure[0]

    def sampler_start(self, token: str) -> int:
        sampler = self._open(token).sampler()
        sampler.start()
        key = id(sampler)
        self._samplers[key] = sampler
        return key

    def sampler_stop(self, token: str, key: int) -> tuple[list[Sample], dict[str, Any]]:
        """The samples and what the sampler tells of them (`_VERDICT`)."""
        self._open(token)
        sampler = self._samplers.pop(key)
        samples = sampler.stop()
        told = {name: getattr(sampler, name) for name in _VERDICT if hasattr(sampler, name)}
        return samples, {name: dict(v) if isinstance(v, Mapping) else v for name, v in told.items()}

    def release(self, token: str) -> None:
        """Close the device and free the lease, if `token` holds it."""
        with self._guard:
            if self._lease is None or self._lease.token != token:
                return
            self._lease = None
        if self._session == token:
            self._close()
