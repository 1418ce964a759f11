"""What a device backend can do, declared on its class, and the vocabulary those declarations use.

A suite names runners, delegates and conditions from the vocabulary below (checked when the suite is
read); each backend declares the subset it supports (`Device.capabilities`), and a run is refused
before anything is stored when a job asks a device for something it does not declare.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from harness.errors import UserError
from models.manifest import FORMATS  # artifact formats, as models/ records them (Variant.format)

__all__ = ["FORMATS", "DELEGATES", "RUNNERS", "CONDITIONS", "RunnerSpec", "ConditionSpec", "Capabilities"]

DELEGATES = ("cpu", "xnnpack", "nnapi", "gpu", "coreml-ane", "coreml-cpu")


@dataclasses.dataclass(frozen=True)
class RunnerSpec:
    """A kind of job runner (a suite workload's `runner = NAME`)."""

    name: str
    description: str
    signatures: tuple[str, ...] = ("infer", "train")
    delegates: tuple[str, ...] = DELEGATES
    events: bool = True  # per-invoke protocol events; False: aggregates only (no percentiles, no energy window)
    background: bool = False  # can run a background train job beside an infer job
    placement: bool = True  # pins itself to a job's `cpus` (protocol duty 3)


@dataclasses.dataclass(frozen=True)
class ConditionSpec:
    """A device condition a suite's `[conditions]` can ask for; `check(value)` raises UserError on a bad value."""

    name: str
    help: str
    check: Callable[[Any], None]


def _flag(name: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        # an on/off condition is induced "on"; off is the device's own state
        if value is not None and value is not True:
            raise UserError(f"{name} takes no value or true, not {value!r}")
    return check


def _integer(name: str, low: int, high: int, meaning: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UserError(f"{name} must be an integer {meaning}, got {value!r}")
    return check


RUNNERS: dict[str, RunnerSpec] = {r.name: r for r in (
    RunnerSpec("companion", "the device's protocol runner (host worker, companion app)"),
    RunnerSpec("native", "the native C runner on LiteRT's C API (device_apps/native; no app install)",
               delegates=("cpu", "xnnpack")),
    RunnerSpec("benchmark_model", "LiteRT's benchmark_model binary", signatures=("infer",),
               delegates=("cpu", "xnnpack", "nnapi", "gpu"), events=False, placement=False),
)}

CONDITIONS: dict[str, ConditionSpec] = {c.name: c for c in (
    ConditionSpec("unplugged", "the framework believes no charger is attached", _flag("unplugged")),
    ConditionSpec("battery_level", "the framework reports this battery level",
                  _integer("battery_level", 0, 100, "0..100")),
    ConditionSpec("thermal_status", "the thermal status is overridden to this level",
                  _integer("thermal_status", 0, 6, "0 (none) .. 6 (shutdown)")),
    ConditionSpec("screen_off", "the screen is off (back on at restore)", _flag("screen_off")),
    ConditionSpec("idle", "Doze deep idle is forced", _flag("idle")),
)}


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What one backend declares: artifact formats, runners (with their delegates) and inducible conditions."""

    formats: tuple[str, ...]
    runners: tuple[RunnerSpec, ...]
    conditions: tuple[str, ...] = ()  # names in CONDITIONS
    default_runner: str = "companion"  # what a workload that names no runner runs with on this backend

    def runner(self, name: str) -> RunnerSpec | None:
        return next((r for r in self.runners if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"formats": list(self.formats), "conditions": list(self.conditions),
                "default_runner": self.default_runner,
                "runners": {r.name: {"signatures": list(r.signatures), "delegates": list(r.delegates),
                                     "events": r.events, "background": r.background, "placement": r.placement}
                             for r in self.runners}}
