"""Running protocol jobs on a phone: the native C runner over `adb shell`, the companion app via
`am instrument`, or LiteRT's `benchmark_model`.

The companion (device_apps/android) prints each protocol event as an instrumentation status line:

    INSTRUMENTATION_STATUS: event={"event": "invoke", "job_id": "j1", ...}
    INSTRUMENTATION_STATUS_CODE: 1

so events stream back over the one `am instrument -w -r` shell while the job runs.
"""

from __future__ import annotations

import collections
import json
import posixpath
import re
import time
from collections.abc import Sequence
from typing import Any

from harness.devices.android.transport import Shell, sh_join
from harness.devices.base import EventCallback
from harness.errors import CompanionAppError, DeviceError, DeviceTimeout, UserError
from harness.events import AggregateTimings, Received

__all__ = [
    "BENCHMARK_MODEL_DELEGATES", "RUNNER_COMPONENT", "BenchmarkModelRunner", "InstrumentationRunner", "NativeRunner",
    "benchmark_model_command", "benchmark_model_timings", "parse_benchmark_model", "parse_status_line",
]

RUNNER_COMPONENT = "org.phonebench.runner/org.phonebench.runner.JobInstrumentation"
_STATUS = "INSTRUMENTATION_STATUS: event="


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


class _StreamingRunner:
    """Pushes the job JSON into the session's `jobs/`, starts the runner over one adb shell, streams its
    events until `finished` or `error`. A subclass gives the command, how a line becomes an event, and what
    a job that ended without either is blamed on.

    `work_dir` is the session's own directory on the phone (staging.session_dir): job files of two
    sessions never share a path, however their job ids repeat.
    """

    name = "runner"

    def __init__(self, shell: Shell, work_dir: str):
        self.shell, self.work_dir = shell, work_dir
        self.jobs_dir = posixpath.join(work_dir, "jobs")
        self.dir_ready = False  # set once jobs_dir exists (the device may make it in another round trip)

    def job_path(self, job_id: str) -> str:
        return posixpath.join(self.jobs_dir, f"{job_id}.json")

    def command(self, job_path: str) -> str:
        raise NotImplementedError

    def parse(self, line: str) -> dict[str, Any] | None:
        """The event on one output line, None for another line."""
        raise NotImplementedError

    def unfinished(self, job: dict[str, Any], job_path: str, count: int, other: Sequence[str]) -> DeviceError:
        tail = " | ".join(line for line in other if line.strip())[-300:]
        return CompanionAppError(f"{self.name} ended job {job['job_id']} without finished/error after {count} "
                                 f"events: {tail or 'no output'}")

    def run(self, job: dict[str, Any], on_event: EventCallback | None, timeout_s: float) -> list[dict[str, Any]]:
        """Stream the job's events; DeviceTimeout once `timeout_s` passed (checked as lines arrive, and
        after that long a silence)."""
        job_path = self.job_path(job["job_id"])
        if not self.dir_ready:
            self.shell.run(sh_join(["mkdir", "-p", self.jobs_dir]))
            self.dir_ready = True
        self.shell.push(json.dumps(job).encode(), job_path)
        received = Received(on_event)
        other: collections.deque[str] = collections.deque(maxlen=40)  # the runner's last other lines
        deadline = time.monotonic() + timeout_s
        try:
            for line in self.shell.stream(self.command(job_path), timeout_s):
                if time.monotonic() > deadline:
                    raise DeviceTimeout(f"{self.shell.serial}: job {job['job_id']} did not finish within "
                                        f"{timeout_s:g} s")
                event = self.parse(line)
                if event is None:
                    other.append(line)
                else:
                    received(event)
        except DeviceError as exc:
            if not self.shell.online():
                raise DeviceError(f"{self.shell.serial} went offline during job {job['job_id']}: {exc}") from exc
            raise
        if received.ended:
            return received.events
        if not self.shell.online():
            raise DeviceError(
                f"{self.shell.serial} went offline during job {job['job_id']} after {received.count} events"
            )
        raise self.unfinished(job, job_path, received.count, other)


class InstrumentationRunner(_StreamingRunner):
    """The companion app: `am instrument -w -r`, events on its instrumentation status lines."""

    name = "companion"

    def __init__(self, shell: Shell, work_dir: str, component: str = RUNNER_COMPONENT):
        super().__init__(shell, work_dir)
        self.component = component

    def command(self, job_path: str) -> str:
        return sh_join(["am", "instrument", "-w", "-r", "-e", "job", job_path, self.component])

    def parse(self, line: str) -> dict[str, Any] | None:
        return parse_status_line(line)


# `benchmark_model` (LiteRT's native tool) summary lines, e.g.
# "Inference timings in us: Init: 31245, First inference: 5621, Warmup (avg): 2045.3, Inference (avg): 1987.2"
_TIMINGS = re.compile(r"Inference timings in us:(?P<body>.*)$", re.MULTILINE)
_PAIR = re.compile(r"\s*(?P<key>[^:,]+):\s*(?P<value>[-0-9.eE+]+)")
_COUNT = re.compile(r"count=(?P<count>\d+)(?: first=(?P<first>\d+))?(?: curr=\d+)? "
                    r"min=(?P<min>\d+) max=(?P<max>\d+) avg=(?P<avg>[0-9.e+]+) std=(?P<std>\d+)")
BENCHMARK_MODEL_DELEGATES = {"nnapi": "--use_nnapi=true", "gpu": "--use_gpu=true", "xnnpack": "--use_xnnpack=true",
                             "cpu": "--use_xnnpack=false"}


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
    # The measured loop's count= line is the last one before the timings line; with
    # --enable_op_profiling a profiler "Timings (microseconds): count=..." line follows it.
    counts = list(_COUNT.finditer(text, 0, timings.start()))
    if counts:
        last = counts[-1]
        out.update(count=float(last["count"]), min_ms=int(last["min"]) / 1000.0, max_ms=int(last["max"]) / 1000.0,
                   std_ms=int(last["std"]) / 1000.0)
    return out


def benchmark_model_command(binary: str, graph: str, threads: int, runs: int, warmup: int, delegate: str,
                            min_secs: float = 0.0) -> str:
    """The quoted command line for LiteRT's `benchmark_model` on the phone.

    `min_secs` keeps the measured loop running at least that long (the tool's own default is 1 s);
    warm-up is exactly `warmup` runs (`--warmup_min_secs=0`).
    """
    if delegate not in BENCHMARK_MODEL_DELEGATES:
        raise DeviceError(f"benchmark_model has no delegate {delegate!r}; "
                          f"use one of {', '.join(BENCHMARK_MODEL_DELEGATES)}")
    args = [binary, f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}",
            f"--min_secs={min_secs:g}", "--warmup_min_secs=0", BENCHMARK_MODEL_DELEGATES[delegate]]
    return sh_join(args)


def benchmark_model_timings(text: str) -> AggregateTimings:
    """The aggregates of one `benchmark_model` run's output (see `parse_benchmark_model`)."""
    stats = parse_benchmark_model(text)
    if "inference_avg_ms" not in stats:
        raise CompanionAppError(f"benchmark_model printed no 'Inference (avg)': {text.strip()[-300:]!r}")
    count = stats.get("count")
    return AggregateTimings(stats["inference_avg_ms"], stats.get("init_ms"), stats.get("first_inference_ms"),
                            stats.get("warmup_avg_ms"), int(count) if count is not None else None,
                            stats.get("min_ms"), stats.get("max_ms"), stats.get("std_ms"))


class BenchmarkModelRunner:
    """Runs a staged `benchmark_model` binary on one infer job and parses its summary."""

    def __init__(self, shell: Shell):
        self.shell = shell

    def run(self, binary: str, job: dict[str, Any], timeout_s: float) -> AggregateTimings:
        if job["signature"] != "infer":
            raise UserError(f"benchmark_model runs only infer jobs, not {job['signature']!r} (job {job['job_id']})")
        command = benchmark_model_command(binary, job["artifact"]["path"], job["threads"], job["iterations"],
                                          job["warmup"], job["delegate"], job.get("min_duration_s", 0.0))
        result = self.shell.run(command, timeout_s=timeout_s, check=False)
        if result.returncode != 0:
            tail = (result.stderr + result.stdout).strip()[-300:]
            raise CompanionAppError(f"benchmark_model exited {result.returncode} on job {job['job_id']}: {tail}")
        # The tool logs to stderr on some builds (TFLite's logging) and stdout on others.
        return benchmark_model_timings(result.stdout + "\n" + result.stderr)


class NativeRunner(_StreamingRunner):
    """Runs jobs with the native C runner (device_apps/native) from a staged glibc bundle over `adb shell`.

    The bundle's own loader starts it, as from /data/local/tmp on any arm64 phone:

        cd <bundle> && ./ld-linux-aarch64.so.1 --library-path . ./runner <job.json> 2><job>.stderr

    Events are its stdout lines; its stderr (LiteRT's log) stays on the phone beside the job file and
    is read back only when the job ends without `finished`/`error`.
    """

    name = "native runner"

    def __init__(self, shell: Shell, work_dir: str):
        super().__init__(shell, work_dir)
        self.bundle_dir: str | None = None  # set once the bundle is staged (AndroidDevice.check_runners)

    def command(self, job_path: str) -> str:
        assert self.bundle_dir is not None
        return (f"cd {sh_join([self.bundle_dir])} && exec ./ld-linux-aarch64.so.1 --library-path . ./runner "
                f"{sh_join([job_path])} 2>{sh_join([job_path + '.stderr'])}")

    def parse(self, line: str) -> dict[str, Any] | None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return None
        return event if isinstance(event, dict) and "event" in event else None

    def unfinished(self, job: dict[str, Any], job_path: str, count: int, other: Sequence[str]) -> DeviceError:
        log = self.shell.run(sh_join(["tail", "-c", "600", job_path + ".stderr"]), check=False).stdout
        return super().unfinished(job, job_path, count, [*other, *log.splitlines()])

    def run(self, job: dict[str, Any], on_event: EventCallback | None, timeout_s: float) -> list[dict[str, Any]]:
        if self.bundle_dir is None:
            raise CompanionAppError("the native runner is not staged on this phone (check_runners stages it)")
        return super().run(job, on_event, timeout_s)
