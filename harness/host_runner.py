"""The reference runner of the job protocol: one job in, JSON lines out, with the LiteRT interpreter.

    python -m harness.host_runner JOB.json

The host device runs it in a worker process so a crashing model cannot take the orchestrator down;
the Android stand-in runs it too. Phone companions implement the same behaviour (see
device_apps/protocol/README.md) and are checked against the same conformance vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from harness import __version__
from harness.checksum import sha256_file
from harness.protocol import PROTOCOL_VERSION, ProtocolError, validate_job

RUNNER = {"name": "host-litert", "version": __version__}
_FLUSH_EVERY_NS = 50_000_000  # batch stdout writes: one flush per 50 ms, never inside a timed region


class JobFailed(Exception):
    """Ends a job with an `error` event carrying `code`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class _Emitter:
    def __init__(self, out: TextIO, job_id: str):
        self.out, self.job_id, self._last_flush = out, job_id, time.monotonic_ns()

    def __call__(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps({"event": event, "job_id": self.job_id, **fields}) + "\n")
        now = time.monotonic_ns()
        if event in ("started", "finished", "error") or now - self._last_flush > _FLUSH_EVERY_NS:
            self.out.flush()
            self._last_flush = now


def _interpreter(job: dict[str, Any]):
    """The job's checked model loaded, and the load's wall time in ms (checksum excluded)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = Path(job["artifact"]["path"])
    if not path.is_file():
        raise JobFailed("artifact_missing", f"no model at {path}")
    if sha256_file(path) != job["artifact"]["sha256"]:
        raise JobFailed("checksum_mismatch", f"{path} does not match sha256 {job['artifact']['sha256']}")
    resolvers = {"xnnpack": OpResolverType.AUTO, "cpu": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    if job["delegate"] not in resolvers:
        raise JobFailed("delegate_unavailable", f"delegate {job['delegate']!r} does not exist on the host")
    start = time.monotonic_ns()
    try:
        interpreter = Interpreter(
            model_path=str(path), num_threads=job["threads"], experimental_op_resolver_type=resolvers[job["delegate"]]
        )
        return interpreter, (time.monotonic_ns() - start) / 1e6
    except (ValueError, RuntimeError) as exc:
        raise JobFailed("model_load", f"LiteRT could not load {path.name}: {exc}") from exc


def _runner(interpreter, name: str):
    if name not in interpreter.get_signature_list():
        raise JobFailed("signature_missing", f"model has no {name!r} signature")
    return interpreter.get_signature_runner(name)


def _synthetic(name: str, details: dict[str, Any], rng: np.random.Generator, source: dict[str, Any],
               classes: int) -> np.ndarray:
    """Input `name` drawn from the job's range for it (protocol README, duty 7), else the default range."""
    shape, dtype = [int(d) for d in details["shape"]], np.dtype(details["dtype"])
    floating = np.issubdtype(dtype, np.floating)
    low, high = source.get("ranges", {}).get(name, (-1.0, 1.0) if floating else (0, classes))
    if not high > low:
        raise JobFailed("bad_job" if name in source.get("ranges", {}) else "input_mismatch",
                        f"input {name!r}: no values in range [{low}, {high})")
    if floating:
        return rng.uniform(low, high, shape).astype(dtype)
    return rng.integers(int(np.ceil(low)), int(np.ceil(high)), shape, dtype=dtype)


def _load_npz(source: dict[str, Any], names) -> dict[str, np.ndarray]:
    """Arrays `names` of a staged .npz (checked against its sha256 when the job gives one)."""
    path = Path(source["path"])
    if not path.is_file():
        raise JobFailed("artifact_missing", f"no input file at {path}")
    if "sha256" in source and sha256_file(path) != source["sha256"]:
        raise JobFailed("checksum_mismatch", f"{path} does not match sha256 {source['sha256']}")
    try:
        with np.load(path) as data:
            return {name: data[name] for name in names}
    except (OSError, ValueError, KeyError) as exc:
        raise JobFailed("input_mismatch", f"{path}: {exc}") from exc


def _check_shapes(arrays: dict[str, np.ndarray], details: dict[str, Any], rows: bool = False) -> None:
    """Each array fits its signature input; with `rows`, only per-example dims must match (batching is ours)."""
    for name, d in details.items():
        want = [int(s) for s in d["shape_signature"]]
        got = list(arrays[name].shape)
        if rows:
            want, got = want[1:], got[1:]
        if len(want) != len(got) or any(w not in (-1, g) for w, g in zip(want, got)):
            raise JobFailed("input_mismatch", f"input {name!r} has shape {list(arrays[name].shape)}, "
                                              f"the model expects {[int(s) for s in d['shape_signature']]}")


def _infer_inputs(job: dict[str, Any], runner, classes: int) -> dict[str, np.ndarray]:
    details = runner.get_input_details()
    if job["input"]["kind"] == "npz":
        arrays = _load_npz(job["input"], details)
    else:
        rng = np.random.default_rng(job["input"]["seed"])
        arrays = {name: _synthetic(name, dict(d, shape=[1 if s == -1 else s for s in d["shape_signature"]]), rng,
                                   job["input"], classes)
                  for name, d in details.items()}
    _check_shapes(arrays, details)
    return arrays


def _train_batches(job: dict[str, Any], runner, classes: int, batch: int):
    """step -> inputs of the train signature: a fixed synthetic batch, or consecutive batches of a
    staged .npz (x, y), wrapping around when the data runs out."""
    details = runner.get_input_details()
    if job["input"]["kind"] != "npz":
        rng = np.random.default_rng(job["input"]["seed"])
        fixed = {name: _synthetic(name, d, rng, job["input"], classes) for name, d in details.items()}
        return lambda step: fixed
    data = _load_npz(job["input"], details)
    _check_shapes(data, details, rows=True)
    count = len(data["x"])
    if count < batch or len(data["y"]) != count:
        raise JobFailed("input_mismatch", f"{job['input']['path']}: need at least {batch} examples with labels, "
                                          f"got x {count} and y {len(data['y'])}")
    typed = {name: data[name].astype(details[name]["dtype"], copy=False) for name in details}
    return lambda step: {name: a[(step * batch + np.arange(batch)) % count] for name, a in typed.items()}


def _accuracy(interpreter, examples: dict[str, np.ndarray], chunk: int = 64) -> float:
    """Share of eval examples whose argmax of `infer` equals the label."""
    infer = _runner(interpreter, "infer")
    x, y = examples["x"], examples["y"]
    hits = 0
    for start in range(0, len(x), chunk):
        (logits,) = infer(x=x[start:start + chunk].astype(np.float32, copy=False)).values()
        hits += int((np.argmax(logits, axis=-1) == y[start:start + chunk]).sum())
    return hits / len(x)


def _num_classes(interpreter) -> int:
    if "infer" not in interpreter.get_signature_list():
        return 0
    (logits,) = interpreter.get_signature_runner("infer").get_output_details().values()
    return int(logits["shape"][-1])


def _run_infer(job: dict[str, Any], interpreter, emit: _Emitter) -> dict[str, Any]:
    runner = _runner(interpreter, "infer")
    inputs = _infer_inputs(job, runner, _num_classes(interpreter))
    iterations, min_ns = job["iterations"], int(job.get("min_duration_s", 0) * 1e9)
    index = measured = 0
    first_ns: int | None = None  # start of the first measured invoke
    end = 0
    while True:
        warm = index < job["warmup"]
        if not warm and measured >= iterations and (first_ns is None or end - first_ns >= min_ns):
            break
        start = time.monotonic_ns()
        try:
            runner(**inputs)
        except (ValueError, RuntimeError) as exc:
            raise JobFailed("invoke_failed", f"invoke {index}: {exc}") from exc
        end = time.monotonic_ns()
        if not warm:
            measured += 1
            first_ns = start if first_ns is None else first_ns
        emit("invoke", index=index, warmup=warm, start_ns=start, end_ns=end, latency_ms=(end - start) / 1e6)
        index += 1
    return {"measured": measured}


def _run_train(job: dict[str, Any], interpreter, emit: _Emitter) -> dict[str, Any]:
    runner = _runner(interpreter, "train")
    batch = int(runner.get_input_details()["x"]["shape"][0])
    if job["train"]["batch_size"] != batch:
        raise JobFailed("input_mismatch",
                        f"batch_size {job['train']['batch_size']} but the train signature takes {batch}")
    batches = _train_batches(job, runner, _num_classes(interpreter), batch)
    evaluation = _load_npz(job["eval"], ("x", "y")) if "eval" in job else None
    result: dict[str, Any] = {"measured": job["train"]["steps"]}
    if evaluation is not None:
        result.update(eval_examples=len(evaluation["x"]), accuracy_before=_accuracy(interpreter, evaluation))
    for step in range(job["warmup"] + job["train"]["steps"]):
        inputs = batches(step)
        start = time.monotonic_ns()
        try:
            loss = float(runner(**inputs)["loss"])
        except (ValueError, RuntimeError) as exc:
            raise JobFailed("invoke_failed", f"train step {step}: {exc}") from exc
        end = time.monotonic_ns()
        emit("train_step", step=step, warmup=step < job["warmup"], start_ns=start, end_ns=end,
             latency_ms=(end - start) / 1e6, loss=loss)
    if evaluation is not None:
        result["accuracy_after"] = _accuracy(interpreter, evaluation)
    weights = _runner(interpreter, "get_weights")()
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return {**result, "delta_bytes": int(sum(w.nbytes for w in weights.values())), "delta_sha256": digest.hexdigest()}


def _pin(job: dict[str, Any]) -> None:
    """Pin this process to the job's `cpus` (protocol duty 3), before the model is loaded."""
    if "cpus" in job:
        try:
            os.sched_setaffinity(0, job["cpus"])
        except OSError as exc:
            raise JobFailed("placement_unavailable", f"cannot pin the runner to cpus {job['cpus']}: {exc}") from exc


def _emit_loaded(job: dict[str, Any], emit: _Emitter, load_ms: float) -> None:
    """`loaded` (protocol duty 3): what LiteRT's Python interpreter tells of the load; it shows the execution
    plan of the model's primary subgraph only, never a signature's, so operator counts stay out."""
    note = ("no delegate asked: LiteRT's builtin kernels run every operator" if job["delegate"] == "cpu" else
            "LiteRT's Python interpreter shows the execution plan of the primary subgraph only, not the "
            "signature's: how many operators XNNPACK took is not exposed")
    emit("loaded", t_ns=time.monotonic_ns(), load_ms=load_ms, affinity=sorted(os.sched_getaffinity(0)),
         placement_note=note)


def peak_rss_bytes(status: Path = Path("/proc/self/status")) -> int:
    """This process's peak resident memory: VmHWM, which exec resets. (getrusage's ru_maxrss survives exec, so
    a worker forked from a large harness would report the harness's size.)"""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_job(job: Any, out: TextIO) -> bool:
    """Run one job, writing its events to `out`; True if it finished, False if it ended in `error`."""
    job_id = job.get("job_id", "unknown") if isinstance(job, dict) else "unknown"
    emit = _Emitter(out, str(job_id))
    emit("started", protocol=PROTOCOL_VERSION, t_ns=time.monotonic_ns(), runner=RUNNER)
    try:
        try:
            validate_job(job)
        except ProtocolError as exc:
            raise JobFailed("bad_job", str(exc)) from exc
        _pin(job)
        interpreter, load_ms = _interpreter(job)
        _emit_loaded(job, emit, load_ms)
        result = (_run_train if job["signature"] == "train" else _run_infer)(job, interpreter, emit)
    except JobFailed as exc:
        emit("error", code=exc.code, message=str(exc))
        return False
    emit("finished", t_ns=time.monotonic_ns(), peak_rss_bytes=peak_rss_bytes(), **result)
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m harness.host_runner JOB.json", file=sys.stderr)
        return 2
    try:
        job = json.loads(Path(argv[0]).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        job = None
        message = f"cannot read job {argv[0]}: {exc}"
    if job is None:
        emit = _Emitter(sys.stdout, "unknown")
        emit("started", protocol=PROTOCOL_VERSION, t_ns=time.monotonic_ns(), runner=RUNNER)
        emit("error", code="bad_job", message=message)
        return 1
    return 0 if run_job(job, sys.stdout) else 1


if __name__ == "__main__":
    sys.exit(main())
