"""Render time of every dashboard over a results store of 100 synthetic runs (target: a few seconds).

The store is written through the real store API (tests/synthetic_runs.py: 2 variants × 2 workloads ×
3 repetitions × 200 invokes, 10 Hz modelled telemetry per run). Prints

    dashboards over 100 runs rendered in X.XX s
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.dashboards.report import render_all  # noqa: E402
from harness.store import Store  # noqa: E402
from tests.synthetic_runs import write_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        t = time.perf_counter()
        for i in range(args.runs):
            write_run(store, seed=i, created=start + dt.timedelta(hours=i),
                      slowdown={"toy-cnn-wide/last-layer": 1.1} if i >= args.runs * 3 // 4 else None)
        print(f"wrote {args.runs} runs in {time.perf_counter() - t:.1f} s (setup, not timed below)")
        t = time.perf_counter()
        pages = render_all(store, Path(tmp) / "dash")
        elapsed = time.perf_counter() - t
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in pages)
    print(f"dashboards over {args.runs} runs rendered in {elapsed:.2f} s ({sizes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
