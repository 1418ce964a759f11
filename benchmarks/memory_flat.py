"""Memory stays flat with job length: the peak RSS of `harness bench` for a short and a long job.

Each job is one infer job of the toy CNN (~10 µs an invoke, so ~10^5 events a second) held for
`min_duration_s`, run by a fresh `harness bench` process on the host device into a temporary store.
Prints each process's peak RSS and

    memory ratio (60 s / 10 s job): X.XX   (target <= 1.2)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET = 1.2
SUITE = """
name = "memory-flat"
repetitions = 1
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "infer"
signature = "infer"
warmup = 10
iterations = 1
min_duration_s = {seconds}
threads = 1
"""


def _peak_rss_mib(seconds: float, folder: Path) -> tuple[float, int]:
    """Peak RSS (MiB) of a `harness bench` process running one job of `seconds`, and the events it stored."""
    suite = folder / f"memory-{seconds:g}.toml"
    suite.write_text(SUITE.format(seconds=seconds))
    store = folder / f"store-{seconds:g}"
    code = ("import resource, sys; from harness.cli import main; rc = main(sys.argv[1:]); "
            "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "bench", "--suite", str(suite), "--device", "host",
                           "--results", str(store)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench of a {seconds:g} s job failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    kib = int(proc.stderr.rsplit("peak_rss_kib", 1)[1].split()[0])
    from harness.store import Store

    events = len(Store(store).events("latest"))
    return kib / 1024, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=10.0, help="seconds of the short job (default 10)")
    parser.add_argument("--long", type=float, default=60.0, help="seconds of the long job (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memory-flat-") as tmp:
        short, short_events = _peak_rss_mib(args.short, Path(tmp))
        long, long_events = _peak_rss_mib(args.long, Path(tmp))
    print(f"peak RSS of bench, {args.short:g} s job ({short_events:,} events): {short:.0f} MiB")
    print(f"peak RSS of bench, {args.long:g} s job ({long_events:,} events): {long:.0f} MiB")
    ratio = long / short
    print(f"memory ratio ({args.long:g} s / {args.short:g} s job): {ratio:.2f}   (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
