"""The device contract every backend answers (host, sim:<profile>, android:<serial>, ios:<udid>).

Data flows one way: the orchestrator hands a backend staged artifacts and protocol jobs; the backend
returns raw runner events and raw telemetry samples. Analysis happens elsewhere. A backend is one
module with one `Device` subclass (its id `scheme`, its declared `capabilities`, `open` and
`discover`) and one line in the registry, `harness.devices.BACKENDS`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from harness.devices.capabilities import Capabilities
from harness.events import AggregateTimings, EnergySource, Sample

__all__ = [
    "Artifact",
    "Device",
    "DeviceDescription",
    "TelemetrySampler",
    "EventCallback",
    "DEFAULT_JOB_TIMEOUT_S",
    "DeviceProblem",
    "governor_text",
    "resolve_cpus",
]

EventCallback = Callable[[dict[str, Any]], None]
DEFAULT_JOB_TIMEOUT_S = 3600.0  # a job that runs longer has hung (suite `timeout_s`, `bench --job-timeout`)


@dataclasses.dataclass(frozen=True)
class DeviceProblem:
    """A device that is there but cannot run jobs now, and how to fix that (`harness devices` lists it)."""

    id: str
    state: str  # e.g. "unauthorized", "offline", "not answering"
    fix: str


@dataclasses.dataclass(frozen=True)
class DeviceDescription:
    """What `describe()` returns; stored with every run."""

    id: str  # "host", "android:<serial>", ...
    kind: str  # "host", "sim", "android", "ios"
    model: str
    os: str
    soc: str  # CPU model on the host
    abi: str
    cores: int
    battery_capacity_mah: float | None = None
    accelerators: tuple[str, ...] = ()
    energy_sources: tuple[EnergySource, ...] = ()
    extra: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A model file staged for jobs, checksummed on the host."""

    name: str  # variant name from the suite, e.g. "toy-cnn/last-layer"
    path: Path  # on the host
    sha256: str
    manifest: dict[str, Any] = dataclasses.field(default_factory=dict)


class TelemetrySampler(abc.ABC):
    """Samples beside a running job (on the device, not one round trip per sample).

    A sampler reads every channel once at `start()` and once at `stop()`, and periodically between,
    so even an instant start/stop pair gives a snapshot of the device.

    Where the device exposes cpufreq, a sampler also samples each policy's clock (source `cpufreq`, Hz) and
    names the governor(s) in `governor`.

    After `stop()`, `invalid` names the energy sources whose figures this run cannot vouch for (source ->
    reason, e.g. a raw unit the readings could not decide) and `evidence` records how the raw readings were
    read (e.g. the current unit and why); both are stored with the job.
    """

    invalid: Mapping[str, str] = MappingProxyType({})  # a sampler assigns its own after stop()
    evidence: Mapping[str, str] = MappingProxyType({})
    governor: str | None = None  # the cpufreq governor(s) seen (`governor_text`); None: not exposed

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> list[Sample]:
        """Stop sampling and return everything sampled since `start()`."""

    @contextmanager
    def sampling(self) -> Iterator[list[Sample]]:
        """`with sampler.sampling() as samples:` fills `samples` when the block ends, also on error."""
        samples: list[Sample] = []
        self.start()
        try:
            yield samples
        finally:
            samples.extend(self.stop())


def governor_text(governors: Mapping[str, str]) -> str | None:
    """cpufreq governors by policy as one value: `schedutil` when all agree, else `policy0=a,policy4=b`."""
    if not governors:
        return None
    if len(set(governors.values())) == 1:
        return next(iter(governors.values()))
    return ",".join(f"{p}={g}" for p, g in sorted(governors.items()))


def resolve_cpus(spec: str | tuple[int, ...] | None, description: DeviceDescription) -> tuple[tuple[int, ...], str]:
    """A workload's `cpus` on one device: the CPU ids and how they were chosen.

    "big" are the cores with the highest maximum clock (`extra["cpu_max_khz"]`, "id:kHz,..."), "little" those
    with the lowest; where the clocks are alike or unknown, every core, and the note says so.
    """
    if spec is None:
        return (), ""
    if not isinstance(spec, str):
        return tuple(spec), "as listed"
    clocks = dict(tuple(int(x) for x in pair.split(":")) for pair in
                  description.extra.get("cpu_max_khz", "").split(",") if ":" in pair)
    if len(set(clocks.values())) < 2:
        cores = tuple(sorted(clocks)) or tuple(range(description.cores))
        return cores, f"{spec}: every core (their maximum clocks are {'alike' if clocks else 'not exposed'})"
    want = max(clocks.values()) if spec == "big" else min(clocks.values())
    return tuple(sorted(c for c, khz in clocks.items() if khz == want)), f"{spec}: cores at {want / 1e6:.2f} GHz"


class Device(abc.ABC):
    """A place where jobs run. Backends subclass this and pass tests/test_device_contract.py."""

    scheme: ClassVar[str]  # the id scheme: "host", "android" (ids "android:<serial>"), ...
    capabilities: ClassVar[Capabilities]
    id: str
    recovered: Sequence[str] = ()  # conditions a killed run had left induced, undone when this was opened

    @property
    def compute(self) -> str:
        """What the device's jobs run on: devices sharing it take turns in a bench (their numbers would skew
        each other's), others run at once. Default: the device itself (a phone)."""
        return self.id

    @classmethod
    def open(cls, device_id: str) -> Device:
        """The device with this id (`<scheme>` or `<scheme>:<rest>`); UserError for a malformed id.

        Every registered backend implements it (the registry opens devices through it).
        """
        raise NotImplementedError(f"{cls.__name__} cannot be opened by id ({device_id!r})")

    @classmethod
    def discover(cls) -> list[Device]:
        """Every device of this backend reachable now; default: none."""
        return []

    @classmethod
    def forget(cls, device_id: str) -> list[str]:
        """Drop the record of conditions induced on `device_id` without undoing them (they were undone by
        hand); the conditions it named. Default: the backend keeps no such record."""
        return []

    @classmethod
    def problems(cls) -> list[DeviceProblem]:
        """Devices of this backend that are present but unusable, each with its fix; default: none."""
        return []

    @abc.abstractmethod
    def describe(self) -> DeviceDescription: ...

    @abc.abstractmethod
    def stage(self, artifacts: Sequence[Artifact]) -> dict[str, str]:
        """Make artifacts available to the runner; idempotent and checksummed.

        Returns the device-side path of each artifact by its sha256.
        """

    @abc.abstractmethod
    def run(self, job: dict[str, Any], on_event: EventCallback | None = None, *,
            timeout_s: float = DEFAULT_JOB_TIMEOUT_S, runner: str = "companion") -> list[dict[str, Any]]:
        """Run one protocol job with the declared protocol runner `runner`, handing each event to `on_event`
        as it arrives; with no `on_event`, return
        the events instead (a streaming caller gets an empty list: a long job's million events are never
        held by the device).

        DeviceTimeout when the job has not ended within `timeout_s` (the runner is stopped).
        """

    @abc.abstractmethod
    def sampler(self) -> TelemetrySampler:
        """A fresh telemetry sampler for one job."""

    def snapshot(self) -> list[Sample]:
        """One reading of every telemetry channel now (cooldown and condition checks use it)."""
        sampler = self.sampler()
        sampler.start()
        return sampler.stop()

    def check_runners(self, runners: set[str]) -> None:  # noqa: B027 (optional hook with a default)
        """Raise (one line, with the fix) if a runner this run needs is missing on the device; before any job.

        Default: the backend's runners are always there.
        """

    def reachable(self) -> bool:
        """Whether the device still answers, asked after a job failed: False means it was lost (the run
        goes on with the other devices and ends `incomplete`). Default: a local device always answers."""
        return True

    def claim(self, owner: str) -> str:
        """Take the device for this process until `close()`, where other hosts could drive it too (a phone on a
        shared lab); DeviceBusy naming the holder when another has it. `owner` says who and what, for that
        message. Returns a note for the user ("" for none), e.g. whose stale hold it took over. The host-side
        lock (harness.devices.lock) is taken by the orchestrator before `open`. Default: only this host
        reaches the device.
        """
        return ""

    def induce(self, condition: str, value: Any = None) -> None:  # noqa: ARG002
        """Put the device into one of the conditions its capabilities declare."""
        raise NotImplementedError(f"{self.id} cannot induce conditions")

    def stage_benchmark_model(self, binary: Path) -> str:
        """Stage LiteRT's `benchmark_model` (backends declaring that runner); its path on the device."""
        raise NotImplementedError(f"{self.id} cannot run LiteRT's benchmark_model binary")

    def run_benchmark_model(self, binary: str, job: dict[str, Any], *,
                            timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> AggregateTimings:
        """Run one infer job with a staged `benchmark_model`; aggregates only."""
        raise NotImplementedError(f"{self.id} cannot run LiteRT's benchmark_model binary")

    def forget_personalization(self, variant: str | None = None) -> list[str]:
        """Remove what the harness staged on this device for personalization (a person's training data, their
        deltas; only `variant`'s deltas when given); what it removed, one line each (docs/privacy.md).

        Default: the backend cannot yet, which is said, never silently skipped."""
        raise NotImplementedError(f"{self.id}: this backend cannot remove personalization state yet "
                                  "(docs/privacy.md says where it keeps it)")

    def restore(self) -> None:  # noqa: B027 (optional hook with a default)
        """Undo every `induce()`; called also on failure and Ctrl-C. Default: nothing was changed."""

    def close(self) -> None:  # noqa: B027 (optional hook with a default)
        """Release transports; default: nothing to release."""
