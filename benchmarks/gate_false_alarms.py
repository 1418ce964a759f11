"""The regression gate against real run-to-run noise: N back-to-back runs of suites/toy.toml on the host.

Runs `harness bench` N times into a temporary store, then prints, per key, the robust spreads (1.4826 ×
MAD of the log latency) per invoke, between worker processes (repetitions) and between runs; the gate's
verdicts over consecutive pairs (false alarms: the runs are identical); and what one invoke costs apart
from the model (the ns clock, the runner's Python call into LiteRT's SignatureRunner, interpreter.invoke
alone), which is behind harness.compare.RESOLUTION_MS. Prints

    gate false alarms over K identical pairs: F   (target 0)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import compare
from harness.events import measured_frame
from harness.store import Store

ROBUST = 1.4826  # MAD to sd for a normal distribution
# the toy CNNs (a 6 µs and a 1.2 ms invoke; 70 µs and 20 ms train steps), 3 repetitions: the default suite
# when issue 9 measured the gate crying wolf
TOY_SUITE = Path(__file__).resolve().parents[1] / "suites" / "toy.toml"


def _spreads(store: Store) -> None:
    data: dict[tuple[str, str], list[list[np.ndarray]]] = {}
    for m in store.runs():
        if m["status"] != "complete":
            continue
        results, events = store.results(m["run_id"]), measured_frame(store.events(m["run_id"]))
        for (variant, workload), jobs in results.groupby(["variant", "workload"]):
            own = events[events["job_id"].isin(jobs["job_id"])]
            data.setdefault((variant, workload), []).append(
                [np.log(g["latency_ms"].to_numpy()) for _, g in own.groupby("job_id")])
    for (variant, workload), runs in sorted(data.items()):
        invoke = np.median([ROBUST * np.median(abs(j - np.median(j))) for r in runs for j in r])
        medians = [[np.median(j) for j in r] for r in runs]
        within = np.array([x - np.median(r) for r in medians for x in r])
        level = np.array([np.median(r) for r in medians])
        print(f"{variant:26} {workload:12} median {np.exp(np.median(level)) * 1e3:9.1f} µs  spread per invoke "
              f"{invoke:.1%}, per process {ROBUST * np.median(abs(within)):.1%}, per run "
              f"{ROBUST * np.median(abs(level - np.median(level))):.1%}  ({len(runs)} runs)")


def _invoke_overhead() -> None:
    from ai_edge_litert.interpreter import Interpreter

    from models.zoo import build

    path = str(build("toy-cnn/last-layer").path)
    runner = Interpreter(model_path=path, num_threads=2).get_signature_runner("infer")
    inputs = {k: np.zeros([1 if s == -1 else s for s in v["shape_signature"]], v["dtype"])
              for k, v in runner.get_input_details().items()}
    bare = Interpreter(model_path=path, num_threads=2)
    bare.allocate_tensors()

    def timed(call, n: int = 3000) -> float:
        out = []
        for _ in range(n):
            a = time.monotonic_ns()
            call()
            out.append(time.monotonic_ns() - a)
        return float(np.median(out)) / 1e3

    for _ in range(200):
        runner(**inputs)
    print(f"one invoke of the toy CNN, apart from the model: empty timed region {timed(lambda: None):.2f} µs, "
          f"runner(**inputs) {timed(lambda: runner(**inputs)):.2f} µs, "
          f"interpreter.invoke() {timed(bare.invoke):.2f} µs "
          f"(harness.compare.RESOLUTION_MS = {compare.RESOLUTION_MS * 1e3:g} µs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int, nargs="?", default=6, help="back-to-back runs (default 6)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-") as tmp:
        for i in range(args.runs):
            proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--suite", str(TOY_SUITE),
                                   "--results", tmp],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"run {i + 1} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
            print(f"run {i + 1}/{args.runs} stored", flush=True)
        store = Store(Path(tmp))
        _spreads(store)
        ids = [m["run_id"] for m in store.runs() if m["status"] == "complete"]
        history = compare.history_frame(store)
        pairs = [compare.compare_runs(store, a, b, history=history) for a, b in zip(ids, ids[1:])]
        for c in pairs:
            for v in c.regressions:
                print(f"false alarm {c.base_run} → {c.new_run}: {v.metric} {' '.join(v.key)} {v.change:+.1%} "
                      f"(floor {v.floor:.1%} {v.noise_source})")
        alarms = sum(len(c.regressions) for c in pairs)
    _invoke_overhead()
    print(f"gate false alarms over {len(pairs)} identical pairs: {alarms}   (target 0)")
    return 0 if alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
