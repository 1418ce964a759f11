"""Bench suites in TOML: models × variants × workloads × devices × repetitions.

    name = "default"
    devices = ["host"]
    repetitions = 3

    [[models]]
    name = "toy-cnn"
    variants = ["last-layer"]          # artifact "toy-cnn/last-layer" from models.zoo

    [[workloads]]
    name = "infer"
    signature = "infer"
    warmup = 10
    iterations = 200

    [[workloads]]
    name = "personalize"
    signature = "train"
    steps = 20
    batch_size = 16

    [[workloads]]
    name = "personalize-s23"
    signature = "train"
    steps = 50
    batch_size = 16
    data = "har:23"                    # train on held-out subject 23, report accuracy before/after
                                       # (":same-trial" for the same-placement test set)

    [[workloads]]
    name = "infer-while-training"
    signature = "infer"
    iterations = 200
    background = "personalize"         # runs the train workload at the same time (host only for now)

    [[workloads]]
    name = "native"
    signature = "infer"
    runner = "benchmark_model"         # LiteRT's own binary instead of the companion app (android only)

    [[workloads]]
    name = "sustained"
    signature = "infer"
    sustained_s = 300                  # invoke for 5 minutes: the throttling curve, time to first throttle
    cpus = "big"                       # pin the runner: "big", "little" or a list of CPU ids

    benchmark_model = "bin/benchmark_model"   # your android_aarch64 build; relative to the suite file

    [conditions]                       # induced on every device before its jobs, restored at the end
    unplugged = true                   # android only; also battery_level = 0..100,
    screen = "off"                     # thermal_status = 0..6, idle = true

Every key is checked; a typo is an error naming the key, never silently ignored.
A `benchmark_model` workload gives aggregates only (count, mean, min, max, std, init, first and
warm-up timings), never per-invoke latencies, so its percentile columns stay empty.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from harness.devices.capabilities import CONDITIONS, DELEGATES, RUNNERS
from harness.errors import UserError
from harness.policy import Policy, policy_from

__all__ = ["Suite", "Workload", "InducedCondition", "load_suite", "parse_suite", "DEFAULT_SUITE"]

DEFAULT_SUITE = Path(__file__).resolve().parent.parent / "suites" / "default.toml"


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    signature: str  # "infer" or "train"
    warmup: int = 5
    iterations: int | None = None  # infer: measured invokes
    min_duration_s: float = 0.0  # infer: keep invoking at least this long (so energy resolves)
    steps: int | None = None  # train: measured optimizer steps
    batch_size: int | None = None  # train
    threads: int = 1
    delegate: str = "xnnpack"
    input_seed: int = 0
    # "companion" (protocol events), "native" (the C runner, android), "benchmark_model" (LiteRT's binary,
    # aggregates); None: the device's default (`Capabilities.default_runner`: native on android), set by the plan
    runner: str | None = None
    data: str | None = None  # train: one person's data, "har:<subject>[:cross-placement|same-trial]"
    background: str | None = None  # infer: a train workload run at the same time (latency a user feels)
    timeout_s: float | None = None  # a job of this workload that runs longer has hung: it fails, the run goes on
    policy: Policy | None = None  # train: the suite's scheduling policy, set by the plan (not a workload key)
    variants: tuple[str, ...] | None = None  # only these of the suite's variants run this workload (None: all)
    sustained_s: float | None = None  # infer: invoke this long and report the throttling curve
    cpus: str | tuple[int, ...] | None = None  # "big", "little" or CPU ids the runner is pinned to (None: any)


@dataclasses.dataclass(frozen=True)
class InducedCondition:
    """One condition for `Device.induce(name, value)`; `value` is True for on/off conditions."""

    name: str  # a device condition: unplugged, battery_level, thermal_status, screen_off, idle
    value: bool | int


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    description: str
    variants: tuple[str, ...]  # "<model>/<technique>"
    workloads: tuple[Workload, ...]
    devices: tuple[str, ...]
    repetitions: int
    baseline_s: float  # idle telemetry before each job, for energy baselines
    cooldown_timeout_s: float  # longest wait for the device to cool before a job
    source: str  # the TOML text, stored with every run
    benchmark_model: Path | None = None  # host path of the user's LiteRT benchmark_model binary
    conditions: tuple[InducedCondition, ...] = ()  # in the order they are induced
    policy: Policy | None = None  # when updates may run (harness.policy); None: the device decides nothing


_TOP = {"name", "description", "devices", "repetitions", "baseline_s", "cooldown_timeout_s", "models", "workloads",
        "benchmark_model", "conditions", "policy"}
_MODEL = {"name", "variants"}
_WORKLOAD = {f.name for f in dataclasses.fields(Workload)} - {"policy"}


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _typed(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise UserError(f"{where}: {key} must be {getattr(kind, '__name__', kind)}, not {value!r}")
    return value


def _positive(value: int | float | None, key: str, where: str, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise UserError(f"{where}: {key} must be {'>= 0' if allow_zero else '> 0'}, not {value!r}")


def _workload(table: Any, where: str) -> Workload:
    if not isinstance(table, dict):
        raise UserError(f"{where}: must be a table")
    _check_keys(table, _WORKLOAD, where)
    name = _typed(table, "name", str, where)
    if not name:
        raise UserError(f"{where}: needs a name")
    signature = _typed(table, "signature", str, where)
    if signature not in ("infer", "train"):
        raise UserError(f"{where}: signature must be 'infer' or 'train', not {signature!r}")
    fields = {k: table[k] for k in table if k not in ("name", "signature")}
    for key in ("warmup", "iterations", "steps", "batch_size", "threads", "input_seed"):
        _typed(table, key, int, where)
    _typed(table, "min_duration_s", (int, float), where)
    _typed(table, "timeout_s", (int, float), where)
    _positive(table.get("timeout_s"), "timeout_s", where)
    _typed(table, "delegate", str, where)
    for key in ("iterations", "steps", "batch_size", "threads"):
        _positive(table.get(key), key, where)
    for key in ("warmup", "min_duration_s", "input_seed"):
        _positive(table.get(key), key, where, allow_zero=True)
    if table.get("delegate", "xnnpack") not in DELEGATES:
        raise UserError(f"{where}: delegate must be one of {', '.join(DELEGATES)}, not {table['delegate']!r}")
    if "runner" in table and _typed(table, "runner", str, where) not in RUNNERS:
        raise UserError(f"{where}: runner must be one of {', '.join(RUNNERS)}, not {table['runner']!r}")
    _check_runner(table, signature, where)
    for key in ("data", "background"):
        _typed(table, key, str, where)
    if "variants" in table:
        only = table["variants"]
        if not isinstance(only, list) or not only or not all(isinstance(v, str) and v for v in only):
            raise UserError(f"{where}: variants must be a non-empty list of variant names (\"<model>/<technique>\")")
        fields["variants"] = tuple(only)
    if "data" in table:
        _check_data(table["data"], signature, where)
    if "sustained_s" in table:
        _typed(table, "sustained_s", (int, float), where)
        _positive(table["sustained_s"], "sustained_s", where)
        if signature != "infer" or table.get("runner") == "benchmark_model":
            raise UserError(f"{where}: sustained_s belongs to an infer workload of a runner with per-invoke events")
        fields["sustained_s"] = float(table["sustained_s"])
    if "cpus" in table:
        fields["cpus"] = _cpus(table["cpus"], where)
    if "background" in table and (signature != "infer" or table.get("runner") == "benchmark_model"):
        raise UserError(f"{where}: background belongs to an infer workload of the companion runner")
    if signature == "infer":
        if "steps" in table or "batch_size" in table:
            raise UserError(f"{where}: steps/batch_size belong to a train workload")
        fields.setdefault("iterations", 100)
    else:
        if "iterations" in table or "min_duration_s" in table:
            raise UserError(f"{where}: iterations/min_duration_s belong to an infer workload")
        if "steps" not in table or "batch_size" not in table:
            raise UserError(f"{where}: a train workload needs steps and batch_size")
    return Workload(name=name, signature=signature, **fields)


def _cpus(value: Any, where: str) -> str | tuple[int, ...]:
    if value in ("big", "little"):
        return value
    if isinstance(value, list) and value and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                                                  for c in value):
        return tuple(sorted(set(value)))
    raise UserError(f"{where}: cpus must be \"big\", \"little\" or a non-empty list of CPU ids, not {value!r}")


def _check_data(spec: str, signature: str, where: str) -> None:
    from models.tasks import check_data  # the task named by the spec's prefix; no TensorFlow to read a suite

    if signature != "train":
        raise UserError(f"{where}: data belongs to a train workload (it personalizes on that person's data)")
    try:
        check_data(spec)
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from exc


def _check_background(workloads: tuple[Workload, ...], origin: str) -> None:
    train = {w.name for w in workloads if w.signature == "train"}
    for w in workloads:
        if w.background is not None and w.background not in train:
            raise UserError(f"{origin}: workload {w.name!r}: background {w.background!r} is not a train workload "
                            f"of this suite (train workloads: {', '.join(sorted(train)) or 'none'})")


def _check_runner(table: dict[str, Any], signature: str, where: str) -> None:
    """The workload's runner (from the vocabulary) runs its signature and delegate on some device."""
    runner = RUNNERS[table.get("runner", "companion")]
    if signature not in runner.signatures:
        raise UserError(f"{where}: runner {runner.name!r} runs only {'/'.join(runner.signatures)} workloads, "
                        f"not {signature!r}; use runner = 'companion'")
    delegate = table.get("delegate", "xnnpack")
    if delegate not in runner.delegates:
        raise UserError(f"{where}: runner {runner.name!r} has no delegate {delegate!r}; "
                        f"use one of {', '.join(runner.delegates)}")


def _benchmark_model(data: dict[str, Any], workloads: tuple[Workload, ...], origin: str) -> Path | None:
    """The binary's host path (relative to the suite file); required exactly when a workload uses it."""
    raw = _typed(data, "benchmark_model", str, origin)
    users = [w.name for w in workloads if w.runner == "benchmark_model"]
    if raw is None:
        if users:
            raise UserError(f"{origin}: workload {users[0]!r} has runner = 'benchmark_model' but the suite names no "
                            "binary; add benchmark_model = \"path/to/benchmark_model\" at the top level")
        return None
    if not users:
        raise UserError(f"{origin}: benchmark_model is set but no workload has runner = 'benchmark_model'")
    path = Path(raw).expanduser()
    if not path.is_absolute() and Path(origin).is_file():
        path = Path(origin).resolve().parent / path
    if not path.is_file():
        raise UserError(f"{origin}: benchmark_model: no such file {str(path)!r}")
    return path


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{key} must be true or false, not {value!r}")
    return value


def _screen(value: Any, key: str) -> bool:
    if value not in ("off", "on"):
        raise UserError(f"{key} must be \"off\" or \"on\", not {value!r}")
    return value == "off"


# Suite key -> (device condition, check turning the suite value into "induce it?"; None: the value is the
# condition's own, checked by the vocabulary), in induce order: idle last, because Doze only enters deep
# idle unplugged with the screen off.
_CONDITION_KEYS: dict[str, tuple[str, Any]] = {
    "unplugged": ("unplugged", _flag),
    "battery_level": ("battery_level", None),
    "thermal_status": ("thermal_status", None),
    "screen": ("screen_off", _screen),
    "idle": ("idle", _flag),
}


def _conditions(table: Any, origin: str) -> tuple[InducedCondition, ...]:
    """`[conditions]` to the ordered conditions to induce; UserError names the bad key or value."""
    where = f"{origin}: conditions"
    if not isinstance(table, dict):
        raise UserError(f"{where}: must be a table, e.g. [conditions] unplugged = true")
    _check_keys(table, set(_CONDITION_KEYS), where)
    induced: list[InducedCondition] = []
    for key, (name, check) in _CONDITION_KEYS.items():
        if key not in table:
            continue
        value = table[key]
        try:
            if check is None:
                CONDITIONS[name].check(value)  # raises UserError naming the key on a bad value
            elif not check(value, key):
                continue  # e.g. unplugged = false: the device's normal state, nothing to induce
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from exc
        induced.append(InducedCondition(name, True if check else value))
    return tuple(induced)


def parse_suite(text: str, origin: str = "<suite>") -> Suite:
    """Parse and check a suite; UserError names the file and the bad key or value."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{origin}: not valid TOML: {exc}") from exc
    _check_keys(data, _TOP, origin)
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise UserError(f"{origin}: needs at least one [[models]] table")
    variants: list[str] = []
    for i, model in enumerate(models):
        where = f"{origin}: models[{i}]"
        if not isinstance(model, dict):
            raise UserError(f"{where}: must be a table")
        _check_keys(model, _MODEL, where)
        name = _typed(model, "name", str, where)
        names = _typed(model, "variants", list, where)
        if not name or not names or not all(isinstance(v, str) and v for v in names):
            raise UserError(f"{where}: needs a name and a non-empty list of variant names")
        variants += [f"{name}/{v}" for v in names]
    if len(set(variants)) != len(variants):
        raise UserError(f"{origin}: a variant is listed twice")
    raw_workloads = data.get("workloads")
    if not isinstance(raw_workloads, list) or not raw_workloads:
        raise UserError(f"{origin}: needs at least one [[workloads]] table")
    workloads = tuple(_workload(w, f"{origin}: workloads[{i}]") for i, w in enumerate(raw_workloads))
    if len({w.name for w in workloads}) != len(workloads):
        raise UserError(f"{origin}: two workloads share a name")
    _check_background(workloads, origin)
    for w in workloads:
        unknown = sorted(set(w.variants or ()) - set(variants))
        if unknown:
            raise UserError(f"{origin}: workload {w.name!r} names variant {unknown[0]!r}, which no [[models]] lists")
    devices = _typed(data, "devices", list, origin, ["host"])
    if not devices or not all(isinstance(d, str) and d for d in devices):
        raise UserError(f"{origin}: devices must be a non-empty list of device ids")
    repetitions = _typed(data, "repetitions", int, origin, 3)
    _positive(repetitions, "repetitions", origin)
    baseline_s = _typed(data, "baseline_s", (int, float), origin, 0.0)
    cooldown_timeout_s = _typed(data, "cooldown_timeout_s", (int, float), origin, 0.0)
    _positive(baseline_s, "baseline_s", origin, allow_zero=True)
    _positive(cooldown_timeout_s, "cooldown_timeout_s", origin, allow_zero=True)
    return Suite(
        name=_typed(data, "name", str, origin) or Path(origin).stem,
        description=_typed(data, "description", str, origin, ""),
        variants=tuple(variants), workloads=workloads, devices=tuple(devices), repetitions=repetitions,
        baseline_s=float(baseline_s), cooldown_timeout_s=float(cooldown_timeout_s), source=text,
        benchmark_model=_benchmark_model(data, workloads, origin),
        conditions=_conditions(data["conditions"], origin) if "conditions" in data else (),
        policy=policy_from(data["policy"], f"{origin}: policy", Path(origin).parent) if "policy" in data else None,
    )


def load_suite(path: Path) -> Suite:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read suite {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"suite {path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    return parse_suite(text, str(path))
