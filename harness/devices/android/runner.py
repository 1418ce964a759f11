"""Running protocol jobs on a phone: the companion app via `am instrument`, or LiteRT's `benchmark_model`.

The companion (device_apps/android) prints each protocol event as an instrumentation status line:

    INSTRUMENTATION_STATUS: event={"event": "invoke", "job_id": "j1", ...}
    INSTRUMENTATION_STATUS_CODE: 1

so events stream back over the one `am instrument -w -r` shell while the job runs.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from harness.devices.android.transport import Shell, sh_join
from harness.devices.base import EventCallback
from harness.errors import CompanionAppError, DeviceError

__all__ = ["RUNNER_COMPONENT", "InstrumentationRunner", "benchmark_model_command", "parse_benchmark_model", "parse_status_line"]

RUNNER_COMPONENT = "org.phonebench.runner/org.phonebench.runner.JobInstrumentation"
_STATUS = "INSTRUMENTATION_STATUS: event="
_TERMINAL = ("finished", "error")


def parse_status_line(line: str) -> dict[str, Any] | None:
    """The protocol event on an instrumentation status line, None for any other line.

    Sample line: `INSTRUMENTATION_STATUS: event={"event": "started", "job_id": "j1", ...}`.
    """
    if not line.startswith(_STATUS):
        return None
    try:
        event = json.loads(line[len(_STATUS) :])
    except json.JSONDecodeError as exc:
        raise CompanionAppError(f"companion printed an event that is not JSON: {line[:160]!r}") from exc
    if not isinstance(event, dict) or "event" not in event:
        raise CompanionAppError(f"companion printed a non-event: {line[:160]!r}")
    return event


class InstrumentationRunner:
    """Pushes the job JSON, starts the companion, streams its events until `finished` or `error`."""

    def __init__(self, shell: Shell, work_dir: str, component: str = RUNNER_COMPONENT, timeout_s: float = 3600.0):
        self.shell, self.work_dir, self.component, self.timeout_s = shell, work_dir, component, timeout_s

    def run(self, job: dict[str, Any], on_event: EventCallback | None = None) -> list[dict[str, Any]]:
        job_path = posixpath.join(self.work_dir, "jobs", f"{job['job_id']}.json")
        self.shell.run(sh_join(["mkdir", "-p", posixpath.dirname(job_path)]))
        self.shell.push(json.dumps(job).encode(), job_path)
        command = sh_join(["am", "instrument", "-w", "-r", "-e", "job", job_path, self.component])
        events: list[dict[str, Any]] = []
        other: list[str] = []
        try:
            for line in self.shell.stream(command, self.timeout_s):
                event = parse_status_line(line)
                if event is None:
                    other.append(line)
                    continue
                events.append(event)
                if on_event is not None:
                    on_event(event)
        except DeviceError as exc:
            if not self.shell.online():
                raise DeviceError(f"{self.shell.serial} went offline during job {job['job_id']}: {exc}") from exc
            raise
        if events and events[-1]["event"] in _TERMINAL:
            return events
        if not self.shell.online():
            raise DeviceError(
                f"{self.shell.serial} went offline during job {job['job_id']} after {len(events)} events"
            )
        tail = " | ".join(line for line in other if line.strip())[-300:]
        raise CompanionAppError(
            f"companion ended job {job['job_id']} without finished/error after {len(events)} events: {tail or 'no output'}"
        )


# `benchmark_model` (LiteRT's native tool) summary lines, e.g.
# "Inference timings in us: Init: 31245, First inference: 5621, Warmup (avg): 2045.3, Inference (avg): 1987.2"
_TIMINGS = re.compile(r"Inference timings in us:(?P<body>.*)$", re.MULTILINE)
_PAIR = re.compile(r"\s*(?P<key>[^:,]+):\s*(?P<value>[-0-9.eE+]+)")
_COUNT = re.compile(r"count=(?P<count>\d+)(?: first=(?P<first>\d+))?(?: curr=\d+)? min=(?P<min>\d+) max=(?P<max>\d+) avg=(?P<avg>[0-9.e+]+) std=(?P<std>\d+)")


def parse_benchmark_model(text: str) -> dict[str, float]:
    """Summary of a `benchmark_model` run, in milliseconds.

    Sample lines: `Inference timings in us: Init: 31245, First inference: 5621, Warmup (avg): 2045.3,
    Inference (avg): 1987.2` and `count=50 first=2101 curr=1975 min=1941 max=2250 avg=1987.2 std=51`.
    The tool reports aggregates only, so the app-less path gives no per-invoke events.
    """
    out: dict[str, float] = {}
    timings = _TIMINGS.search(text)
    if timings is None:
        raise CompanionAppError(f"benchmark_model printed no 'Inference timings' line: {text.strip()[-300:]!r}")
    for pair in _PAIR.finditer(timings["body"]):
        key = re.sub(r"[^a-z]+", "_", pair["key"].strip().lower()).strip("_")
        out[f"{key}_ms"] = float(pair["value"]) / 1000.0
    counts = list(_COUNT.finditer(text))
    if counts:  # the last count= line is the measured (non-warm-up) loop
        last = counts[-1]
        out.update(count=float(last["count"]), min_ms=int(last["min"]) / 1000.0, max_ms=int(last["max"]) / 1000.0,
                   std_ms=int(last["std"]) / 1000.0)
    return out


def benchmark_model_command(binary: str, graph: str, threads: int, runs: int, warmup: int, delegate: str) -> str:
    """The quoted command line for LiteRT's `benchmark_model` on the phone."""
    args = [binary, f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}"]
    flags = {"nnapi": "--use_nnapi=true", "gpu": "--use_gpu=true", "xnnpack": "--use_xnnpack=true", "cpu": "--use_xnnpack=false"}
    if delegate not in flags:
        raise DeviceError(f"benchmark_model has no delegate {delegate!r}; use one of {', '.join(flags)}")
    return sh_join([*args, flags[delegate]])
