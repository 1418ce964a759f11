"""Device-lab throughput: 8 stand-in phones on 3 simulated lab hosts against the same run on one phone.

Each host is its own Ray node, real adb server and `harness lab agent` (tests/lab_cluster.py, a loopback
cluster in a fresh network namespace: Linux only); each phone's jobs spend their time on the phone (the
stand-in scripts every invoke at `--invoke-ms`), so what the lab adds is its own overhead. The same suite
runs on one phone and on all eight, alternated, after a warm-up run that stages the artifact everywhere;
throughput is jobs per second of `harness bench` wall time (plan to stored run). Prints

    lab throughput 8 devices / 1 device: X.X   (target >= 7.2, i.e. 0.9 x 8)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab_cluster import EIGHT_PHONES, LabCluster, eight_phone_lab, enter_fresh_netns  # noqa: E402


def _suite(devices: list[str], args: argparse.Namespace):
    from harness.suite import parse_suite
    from tests.suites import infer, toy_suite

    return parse_suite(toy_suite("lab-throughput", infer(runner="companion", warmup=2, iterations=args.invokes),
                                 repetitions=args.repetitions, devices=devices))


def _jobs_per_s(cluster: LabCluster, devices: list[str], store, args: argparse.Namespace) -> float:
    from harness.bench import run_bench
    from harness.lab.device import lab_opener

    t = time.perf_counter()
    result = run_bench(_suite(devices, args), store, open_device=lab_opener(cluster.address))
    elapsed = time.perf_counter() - t
    if result.status != "complete" or any(r["status"] != "ok" for r in result.rows):
        raise SystemExit(f"lab run {result.run_id} on {len(devices)} phone(s) did not complete: {result.status}")
    print(f"  {len(devices)} phone(s): {len(result.rows)} jobs in {elapsed:.1f} s", flush=True)
    return len(result.rows) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoke-ms", type=float, default=100.0, help="device time per invoke (default 100)")
    parser.add_argument("--invokes", type=int, default=100, help="measured invokes per job (default 100)")
    parser.add_argument("--repetitions", type=int, default=2, help="jobs per phone per run (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated 1-phone / 8-phone rounds (default 2)")
    args = parser.parse_args()
    enter_fresh_netns()
    from harness.store import Store

    with tempfile.TemporaryDirectory(prefix="lab-throughput-") as tmp, \
            eight_phone_lab(Path(tmp), {"scripted_invoke_ms": args.invoke_ms}) as (cluster, phones):
        store = Store(Path(tmp) / "store")
        print(f"{len(phones)} phones on {len(EIGHT_PHONES)} lab hosts; warm-up run (stages the artifact everywhere)")
        _jobs_per_s(cluster, phones, store, args)
        one, eight = [], []
        for _ in range(args.rounds):
            one.append(_jobs_per_s(cluster, phones[:1], store, args))
            eight.append(_jobs_per_s(cluster, phones, store, args))
    ratio = statistics.median(eight) / statistics.median(one)
    print(f"lab throughput 8 devices / 1 device: {ratio:.1f}   (target >= 7.2, i.e. 0.9 x 8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
