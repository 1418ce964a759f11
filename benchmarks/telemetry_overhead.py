"""The harness's own overhead: the same infer job with the telemetry sampler running and without it.

Jobs alternate (off, on, on, off, off, on, ...; ABBA so neither side always runs first) on the host
device; the metric is each job's median invoke latency. Prints

    telemetry overhead ratio: X.XXX   (target <= 1.01)

When this machine exposes no readable RAPL or thermal zones, the sampler would have nothing to read,
so the benchmark points the host sampler at emulated sysfs files (same reading code, same 10 Hz loop)
and says so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from harness.analysis.latency import latency_stats
from harness.devices.host import HostDevice, HostSampler
from harness.protocol import PROTOCOL_VERSION
from models.zoo import build

TARGET = 1.01


def _emulated_sysfs(root: Path) -> tuple[list[Path], list[Path]]:
    rapl, zones = root / "intel-rapl:0", root / "thermal_zone0"
    for d, files in ((rapl, {"energy_uj": "123456789", "name": "package-0"}), (zones, {"temp": "45000"})):
        d.mkdir()
        for name, text in files.items():
            (d / name).write_text(text)
    return [rapl], [zones]


def _median_latency(device: HostDevice, job: dict, sampler: HostSampler | None) -> float:
    if sampler is None:
        events = device.run(job)
    else:
        with sampler.sampling():
            events = device.run(job)
    if events[-1]["event"] != "finished":
        sys.exit(f"job failed: {events[-1]}")
    return latency_stats([e["latency_ms"] for e in events if e["event"] == "invoke" and not e["warmup"]]).p50_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="toy-cnn-wide/last-layer")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=400)
    args = parser.parse_args()
    built = build(args.variant)
    job = {"protocol": PROTOCOL_VERSION, "job_id": "overhead", "artifact": {"path": str(built.path),
           "sha256": built.sha256}, "signature": "infer", "input": {"kind": "synthetic", "seed": 0}, "warmup": 30,
           "iterations": args.iterations, "threads": 1, "delegate": "xnnpack"}
    device = HostDevice()
    with tempfile.TemporaryDirectory() as tmp:
        rapl, zones = device._rapl, device._zones  # what the host sampler would read
        note = "real sysfs"
        if not rapl and not zones:
            rapl, zones = _emulated_sysfs(Path(tmp))
            note = "emulated sysfs files (no readable RAPL/thermal zones here)"
        off, on = [], []
        for i in range(args.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            for sampling in order:
                value = _median_latency(device, job, HostSampler(rapl, zones) if sampling else None)
                (on if sampling else off).append(value)
    ratio = statistics.median(on) / statistics.median(off)
    print(f"telemetry off: median of job medians {statistics.median(off):.4f} ms over {len(off)} jobs")
    print(f"telemetry on:  median of job medians {statistics.median(on):.4f} ms over {len(on)} jobs ({note})")
    print(f"telemetry overhead ratio: {ratio:.3f}   (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
