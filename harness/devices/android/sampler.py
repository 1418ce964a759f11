"""Driver of the on-device telemetry sampler: start it in the background, stop it, pull its file.

The phone samples itself (harness/telemetry/android_sampler.sh); the host makes three round trips
per job (start, stop, pull), never one per sample, plus one lease renewal every `renew_s`.

Lifetime: the sampler ends by itself once the device's uptime passes the deadline in its lease file,
which a daemon thread here moves on every `renew_s` by `lease_s`; a harness killed outright (SIGKILL,
SIGTERM, a lost host) stops renewing, so its sampler is gone within one lease. Each running sampler
records "PID OWNER" in `<work_dir>/<token>.pid`; `kill_leftover_samplers` (run when a phone is opened)
kills those whose owner is not a live process on this host and removes their files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import socket
import threading
from collections.abc import Mapping

from harness.devices.android.staging import session_token
from harness.devices.android.transport import Shell, sh_join
from harness.devices.base import TelemetrySampler, governor_text
from harness.errors import DeviceError
from harness.events import Sample
from harness.telemetry.conventions import CurrentConvention, UnitMemory
from harness.telemetry.sampler_output import SAMPLER_SCRIPT, SamplerOutput, parse_sampler_output

__all__ = ["SamplerConfig", "AndroidSampler", "kill_leftover_samplers"]

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    script_path: str  # staged sampler script on the phone
    work_dir: str  # where output and stop files go
    power_supply_dir: str = "/sys/class/power_supply/battery"
    thermal_dir: str = "/sys/class/thermal"
    cpufreq_dir: str = "/sys/devices/system/cpu/cpufreq"  # policy* clocks and governors ("": none)
    interval_s: float = 0.1
    slow_every: int = 10  # thermal zones and dumpsys sources once a second at 10 Hz
    odpm: bool = False
    thermalservice: bool = True
    start_timeout_s: float = 10.0
    lease_s: int = 30  # the sampler ends by itself this long after the host last renewed its lease
    renew_s: float = 10.0


def _owner() -> str:
    return f"{socket.gethostname().replace(' ', '_') or 'host'}:{os.getpid()}"


def _set_lease(path: str, seconds: int) -> str:
    """Shell text: write `uptime + seconds` (whole seconds) to `path`, atomically."""
    tmp = sh_join([path + ".tmp"])
    return (f"read -r up idle < /proc/uptime && echo $((${{up%%.*}} + {int(seconds)})) > {tmp} && "
            f"mv -f {tmp} {sh_join([path])}")


class AndroidSampler(TelemetrySampler):
    """One sampler run; `output` holds the parsed result after `stop()`.

    `memory` is the device's record of units decided by earlier runs: this run reads its units against it
    and records its own decisions there. `invalid` and `evidence` are read against it again when asked, so
    a baseline whose readings could not decide a unit is vouched for by the job run right after it when
    that one decided the unit the baseline's samples were read with.
    """

    def __init__(self, shell: Shell, config: SamplerConfig, memory: UnitMemory | CurrentConvention | None = None):
        if isinstance(memory, CurrentConvention):  # a description's convention: what it decided counts as earlier
            memory = UnitMemory.from_convention(memory)
        self.shell, self.config, self.memory = shell, config, memory
        self.token = f"s{session_token()}"  # unique across hosts too: samplers share <work_dir>
        self.out_path = posixpath.join(config.work_dir, self.token + ".txt")
        self.stop_path = posixpath.join(config.work_dir, self.token + ".stop")
        self.lease_path = posixpath.join(config.work_dir, self.token + ".lease")
        self.pid_path = posixpath.join(config.work_dir, self.token + ".pid")
        self.output: SamplerOutput | None = None
        self._started = False
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self.renew_failures = 0

    @property
    def invalid(self) -> Mapping[str, str]:  # type: ignore[override]
        if self.output is None:
            return {}
        return self.output.units.resolve(self.memory).invalid()

    @property
    def evidence(self) -> Mapping[str, str]:  # type: ignore[override]
        if self.output is None:
            return {}
        out = self.output.units.resolve(self.memory).evidence()
        if self.output.expired:
            out["sampler"] = f"ended by itself before stop: its {self.config.lease_s} s lease was not renewed"
        return out

    @property
    def governor(self) -> str | None:  # type: ignore[override]
        return governor_text(dict(self.output.governors)) if self.output else None

    def _launch(self) -> str:
        c = self.config
        return sh_join([
            "sh", c.script_path, self.out_path, self.stop_path, f"{c.interval_s:g}", str(c.slow_every),
            c.power_supply_dir, c.thermal_dir or "-", "1" if c.odpm else "0", "1" if c.thermalservice else "0",
            self.lease_path, self.pid_path, _owner(), c.cpufreq_dir or "-",
        ])

    def _files(self) -> list[str]:
        return [self.out_path, self.stop_path, self.lease_path, self.lease_path + ".tmp", self.pid_path]

    def once(self) -> list[Sample]:
        """Every channel read now, in one shell round trip: the sampler run in the foreground with its stop file
        already there (so its first full reading is its only one), its output read back at once."""
        c = self.config
        result = self.shell.run(
            f"mkdir -p {sh_join([c.work_dir])} && touch {sh_join([self.stop_path])} && "
            f"{_set_lease(self.lease_path, c.lease_s)} && {self._launch()}; cat {sh_join([self.out_path])}; "
            f"rm -f {sh_join(self._files())}", timeout_s=c.start_timeout_s + 15)
        if result.stdout.rstrip("\n").rpartition("\n")[2] != "@stop":
            raise DeviceError(f"{self.shell.serial}: a telemetry reading did not complete")
        self.output = parse_sampler_output(result.stdout, self.memory)
        if self.memory is not None:
            self.output.units.record(self.memory)
        return list(self.output.samples)

    def start(self) -> None:
        c = self.config
        launch = self._launch()
        polls = max(1, int(c.start_timeout_s / 0.05))
        # Detach in a subshell with its own stdio so the adb shell returns at once; then wait, on the
        # phone, until the first full reading is written.
        command = (
            f"mkdir -p {sh_join([c.work_dir])} && "
            f"rm -f {sh_join([self.out_path, self.stop_path])} && {_set_lease(self.lease_path, c.lease_s)} && "
            f"(nohup {launch} </dev/null >/dev/null 2>&1 &) ; "
            f"i=0; while [ $i -lt {polls} ] && ! grep -q '^@ready' {sh_join([self.out_path])} 2>/dev/null; "
            f"do sleep 0.05; i=$((i + 1)); done; grep -q '^@ready' {sh_join([self.out_path])}"
        )
        result = self.shell.run(command, timeout_s=c.start_timeout_s + 10, check=False)
        if result.returncode != 0:
            raise DeviceError(f"{self.shell.serial}: telemetry sampler did not start within {c.start_timeout_s:g} s")
        self._started = True
        self._stop_renewing.clear()
        self._renewer = threading.Thread(target=self._renew, name=f"sampler-lease-{self.token}", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        command = _set_lease(self.lease_path, self.config.lease_s)
        while not self._stop_renewing.wait(self.config.renew_s):
            try:
                self.shell.run(command, timeout_s=min(10.0, self.config.renew_s), check=True)
            except DeviceError as exc:  # a lost phone: the sampler ends with its lease
                self.renew_failures += 1
                _LOG.debug("%s: sampler lease not renewed: %s", self.shell.serial, exc)

    def _stop_renewer(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=15)
            self._renewer = None

    def stop(self) -> list[Sample]:
        if not self._started:
            return []
        self._started = False
        self._stop_renewer()
        out = sh_join([self.out_path])
        polls = max(1, int((self.config.start_timeout_s + 5) / 0.05))
        self.shell.run(
            f"touch {sh_join([self.stop_path])}; i=0; "
            f"while [ $i -lt {polls} ] && ! grep -q -e '^@stop' -e '^@expired' {out}; "
            f"do sleep 0.05; i=$((i + 1)); done; "
            # A sampler that missed its stop (hung dumpsys) must not keep draining the battery.
            f"grep -q -e '^@stop' -e '^@expired' {out} || kill $(sed -n 's/^@pid //p' {out}) 2>/dev/null; true",
            timeout_s=self.config.start_timeout_s + 15,
        )
        text = self._pull_whole()
        self.shell.run(f"rm -f {sh_join(self._files())}", check=False)
        self.output = parse_sampler_output(text, self.memory)
        if self.memory is not None:
            self.output.units.record(self.memory)
        return list(self.output.samples)


    def _pull_whole(self, attempts: int = 3) -> str:
        """The sampler's file as the phone has it: the sampler ended it (`@stop`, `@expired`) before the pull, so
        a copy without that last line was cut in transfer and is pulled again (no sample is lost to it)."""
        for _ in range(attempts):
            text = self.shell.pull(self.out_path).decode("utf-8", "replace")
            if text.rstrip("\n").rpartition("\n")[2] in ("@stop", "@expired"):
                break
            _LOG.warning("%s: telemetry file came back cut short (%d bytes); pulling it again", self.shell.serial,
                         len(text))
        return text


def _owner_alive_here(owner: str) -> bool:
    """Whether `owner` (host:pid, as `_owner` wrote it) is a live process on this host."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname().replace(" ", "_") or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_leftover_samplers(shell: Shell, work_dir: str) -> list[str]:
    """Kill samplers a dead session left running on the phone (by their recorded PID) and remove their files.

    A PID is killed only while its /proc/PID/cmdline still names the sampler script and that run's token, so
    a PID the phone recycled for another process is never touched; a sampler whose owner is a live process
    on this host (another harness sampling now) is left alone. Returns one line per sampler killed.
    """
    listing = shell.run(
        f"for f in {sh_join([work_dir])}/*.pid; do [ -f \"$f\" ] || continue; read -r pid owner < \"$f\"; "
        "t=${f##*/}; t=${t%.pid}; case $pid in ''|*[!0-9]*) pid=0 ;; esac; run=no; "
        # cmdline's arguments are NUL-separated: grep -z takes each as a line (toybox has no tr on old builds)
        f"if grep -q -z -F -e {sh_join([SAMPLER_SCRIPT.name])} /proc/$pid/cmdline 2>/dev/null && "
        "grep -q -z -F -e \"/$t.txt\" /proc/$pid/cmdline 2>/dev/null; then run=yes; fi; "
        "echo \"$t $pid $run $owner\"; done",
        check=False, timeout_s=30,
    ).stdout
    killed: list[str] = []
    commands: list[str] = []
    for line in listing.splitlines():
        token, pid, running, owner = (line.split(" ", 3) + ["", "", "", ""])[:4]
        if not token or not pid.isdigit() or _owner_alive_here(owner):
            continue
        files = [posixpath.join(work_dir, token + end) for end in (".txt", ".stop", ".lease", ".lease.tmp", ".pid")]
        commands.append(f"rm -f {sh_join(files)}")
        if running == "yes":
            commands.insert(0, f"kill {pid} 2>/dev/null")
            killed.append(f"telemetry sampler pid {pid} (started by {owner or 'an unknown host'})")
    if commands:
        shell.run("; ".join(commands) + "; true", check=False, timeout_s=30)
    for what in killed:
        _LOG.warning("%s: killed a leftover %s", shell.serial, what)
    return killed
