"""Driver of the on-device telemetry sampler: start it in the background, stop it, pull its file.

The phone samples itself (harness/telemetry/android_sampler.sh); the host makes three round trips
per job (start, stop, pull), never one per sample.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import posixpath

from harness.devices.android.transport import Shell, sh_join
from harness.devices.base import TelemetrySampler
from harness.errors import DeviceError
from harness.events import Sample
from harness.telemetry.conventions import CurrentConvention
from harness.telemetry.sampler_output import SamplerOutput, parse_sampler_output

__all__ = ["SamplerConfig", "AndroidSampler"]

_IDS = itertools.count()


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    script_path: str  # staged sampler script on the phone
    work_dir: str  # where output and stop files go
    power_supply_dir: str = "/sys/class/power_supply/battery"
    thermal_dir: str = "/sys/class/thermal"
    interval_s: float = 0.1
    slow_every: int = 10  # thermal zones and dumpsys sources once a second at 10 Hz
    odpm: bool = False
    thermalservice: bool = True
    start_timeout_s: float = 10.0


class AndroidSampler(TelemetrySampler):
    """One sampler run; `output` holds the parsed result (with the detected convention) after `stop()`."""

    def __init__(self, shell: Shell, config: SamplerConfig, prior: CurrentConvention | None = None):
        self.shell, self.config, self.prior = shell, config, prior
        token = f"s{os.getpid()}-{next(_IDS)}"
        self.out_path = posixpath.join(config.work_dir, token + ".txt")
        self.stop_path = posixpath.join(config.work_dir, token + ".stop")
        self.output: SamplerOutput | None = None
        self._started = False

    def start(self) -> None:
        c = self.config
        launch = sh_join([
            "sh", c.script_path, self.out_path, self.stop_path, f"{c.interval_s:g}", str(c.slow_every),
            c.power_supply_dir, c.thermal_dir or "-", "1" if c.odpm else "0", "1" if c.thermalservice else "0",
        ])
        polls = max(1, int(c.start_timeout_s / 0.05))
        # Detach in a subshell with its own stdio so the adb shell returns at once; then wait, on the
        # phone, until the first full reading is written.
        command = (
            f"mkdir -p {sh_join([c.work_dir])} && rm -f {sh_join([self.out_path, self.stop_path])} && "
            f"(nohup {launch} </dev/null >/dev/null 2>&1 &) ; "
            f"i=0; while [ $i -lt {polls} ] && ! grep -q '^@ready' {sh_join([self.out_path])} 2>/dev/null; "
            f"do sleep 0.05; i=$((i + 1)); done; grep -q '^@ready' {sh_join([self.out_path])}"
        )
        result = self.shell.run(command, timeout_s=c.start_timeout_s + 10, check=False)
        if result.returncode != 0:
            raise DeviceError(f"{self.shell.serial}: telemetry sampler did not start within {c.start_timeout_s:g} s")
        self._started = True

    def stop(self) -> list[Sample]:
        if not self._started:
            return []
        self._started = False
        out = sh_join([self.out_path])
        polls = max(1, int((self.config.start_timeout_s + 5) / 0.05))
        self.shell.run(
            f"touch {sh_join([self.stop_path])}; i=0; while [ $i -lt {polls} ] && ! grep -q '^@stop' {out}; "
            f"do sleep 0.05; i=$((i + 1)); done; "
            # A sampler that missed its stop (hung dumpsys) must not keep draining the battery.
            f"grep -q '^@stop' {out} || kill $(sed -n 's/^@pid //p' {out}) 2>/dev/null; true",
            timeout_s=self.config.start_timeout_s + 15,
        )
        text = self.shell.pull(self.out_path).decode("utf-8", "replace")
        self.shell.run(f"rm -f {sh_join([self.out_path, self.stop_path])}", check=False)
        self.output = parse_sampler_output(text, self.prior)
        return list(self.output.samples)
