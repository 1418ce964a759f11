"""The native C runner (device_apps/native, x86_64 build) against LiteRT's own tool and the host runner.

Alternated rounds (native, reference, native, reference, ...) on this computer, same model and threads:

    latency ratio native/litert: X.XX      median invoke of `infer` vs `benchmark_litert_model`
    train step ratio native/host: X.XX     median `train` step vs the host runner (harness.host_runner)

Target 0.97-1.03 for both: the runner adds nothing to what LiteRT spends on an invoke or a train step.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from latency_parity import litert_median  # the sibling benchmark: one way to ask LiteRT

from harness.analysis.latency import latency_stats
from harness.devices.host import HostDevice
from harness.protocol import PROTOCOL_VERSION
from models.zoo import build

TARGET = (0.97, 1.03)
REPO = Path(__file__).resolve().parents[1]


def _native_build():
    spec = importlib.util.spec_from_file_location("native_build", REPO / "device_apps" / "native" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _job(path: Path, sha256: str, signature: str, n: int, warmup: int, threads: int) -> dict:
    job = {"protocol": PROTOCOL_VERSION, "job_id": f"parity-{signature}",
           "artifact": {"path": str(path), "sha256": sha256}, "signature": signature,
           "input": {"kind": "synthetic", "seed": 0}, "warmup": warmup, "threads": threads, "delegate": "xnnpack"}
    if signature == "train":
        job["train"] = {"steps": n, "batch_size": 32}
    else:
        job["iterations"] = n
    return job


def _median(events: list[dict]) -> float:
    if not events or events[-1]["event"] != "finished":
        sys.exit(f"job failed: {events[-1] if events else 'no events'}")
    return latency_stats([e["latency_ms"] for e in events if e["event"] in ("invoke", "train_step")
                          and not e["warmup"]]).p50_ms


def native_median(runner: list[str], job: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(job))
        out = subprocess.run([*runner, str(path)], capture_output=True, text=True, check=False)
    return _median([json.loads(line) for line in out.stdout.splitlines()])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="toy-cnn-wide/last-layer")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    native = _native_build()
    runner = native.runner_command("x86_64", native.build("x86_64"), "")[:-1]
    artifact = build(args.variant)
    batch = artifact.manifest.get("train_batch", 32)
    infer = _job(artifact.path, artifact.sha256, "infer", args.runs, args.warmup, args.threads)
    train = {**_job(artifact.path, artifact.sha256, "train", args.steps, 2, args.threads),
             "train": {"steps": args.steps, "batch_size": batch}}
    ours, theirs, ours_train, host_train = [], [], [], []
    for r in range(args.rounds):
        ours.append(native_median(runner, infer))
        theirs.append(litert_median(artifact.path, args.runs, args.warmup, args.threads))
        ours_train.append(native_median(runner, train))
        host_train.append(_median(HostDevice().run(train)))
        print(f"round {r + 1}/{args.rounds}: infer native {ours[-1]:.3f} ms, litert {theirs[-1]:.2f} ms; train step "
              f"native {ours_train[-1]:.3f} ms, host {host_train[-1]:.3f} ms", flush=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    train_ratio = statistics.median(ours_train) / statistics.median(host_train)
    print(f"model {args.variant}, {args.threads} thread(s), median of {args.rounds} alternated rounds")
    for label, value in (("latency ratio native/litert", ratio), ("train step ratio native/host", train_ratio)):
        verdict = "inside" if TARGET[0] <= value <= TARGET[1] else "OUTSIDE"
        print(f"{label}: {value:.2f}   (target {TARGET[0]:.2f}-{TARGET[1]:.2f}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
