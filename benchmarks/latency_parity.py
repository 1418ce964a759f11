"""Latency parity: the harness's median invoke latency against LiteRT's own benchmark tool.

Both measure the `infer` signature of the same model on this computer with the same thread count,
alternating (harness, litert, harness, litert, ...) so drift hits both alike. Prints

    latency ratio harness/litert: X.XX   (target 0.97-1.03)

`benchmark_litert_model --result_json` rounds to 0.01 ms, so the model is chosen with a median well
above 1 ms (toy-cnn-wide, ~2.5 ms here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.analysis.latency import latency_stats
from harness.devices.host import HostDevice
from harness.protocol import PROTOCOL_VERSION
from models.zoo import build

TARGET = (0.97, 1.03)


def harness_median(path: Path, sha256: str, runs: int, warmup: int, threads: int) -> float:
    job = {"protocol": PROTOCOL_VERSION, "job_id": "parity", "artifact": {"path": str(path), "sha256": sha256},
           "signature": "infer", "input": {"kind": "synthetic", "seed": 0}, "warmup": warmup, "iterations": runs,
           "threads": threads, "delegate": "xnnpack"}
    events = HostDevice().run(job)
    if events[-1]["event"] != "finished":
        sys.exit(f"harness job failed: {events[-1]}")
    return latency_stats([e["latency_ms"] for e in events if e["event"] == "invoke" and not e["warmup"]]).p50_ms


def litert_median(path: Path, runs: int, warmup: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(
            [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={path}",
             "--signature=infer", f"--num_runs={runs}", f"--warmup_runs={warmup}", f"--num_threads={threads}",
             f"--result_json={out}"],
            check=True, capture_output=True,
        )
        return float(json.loads(out.read_text())["latency"]["median_ms"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="toy-cnn-wide/last-layer")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    artifact = build(args.variant)
    ours, theirs = [], []
    for r in range(args.rounds):
        ours.append(harness_median(artifact.path, artifact.sha256, args.runs, args.warmup, args.threads))
        theirs.append(litert_median(artifact.path, args.runs, args.warmup, args.threads))
        print(f"round {r + 1}/{args.rounds}: harness {ours[-1]:.3f} ms, litert {theirs[-1]:.2f} ms", flush=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    verdict = "inside" if TARGET[0] <= ratio <= TARGET[1] else "OUTSIDE"
    print(f"model {args.variant}, {args.threads} thread(s), median of {args.rounds} alternated rounds "
          f"of {args.runs} invokes")
    print(f"latency ratio harness/litert: {ratio:.2f}   (target {TARGET[0]:.2f}-{TARGET[1]:.2f}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
