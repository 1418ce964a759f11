"""The `android:<serial>` backend: describe, stage, run jobs through the companion, sample on the phone."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import posixpath
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.checksum import sha256_file
from harness.devices.android.conditions import CONDITIONS, ConditionManager
from harness.devices.android.phone_lock import LEASE_S, PhoneLock
from harness.devices.android.runner import (
    BENCHMARK_MODEL_DELEGATES,
    RUNNER_COMPONENT,
    BenchmarkModelRunner,
    InstrumentationRunner,
    NativeRunner,
)
from harness.devices.android.sampler import AndroidSampler, SamplerConfig, kill_leftover_samplers
from harness.devices.android.staging import DEVICE_ROOT, StagedFile, Stager, session_dir, session_token
from harness.devices.android.transport import (
    AdbServer,
    Shell,
    adb_servers,
    find_device,
    list_serials,
    list_states,
    sh_join,
    translate_errors,
)
from harness.devices.base import (
    DEFAULT_JOB_TIMEOUT_S,
    Artifact,
    Device,
    DeviceDescription,
    DeviceProblem,
    EventCallback,
    TelemetrySampler,
)
from harness.devices.capabilities import RUNNERS, Capabilities
from harness.errors import CompanionAppError, DeviceError, UserError
from harness.events import AggregateTimings, EnergySource, Sample
from harness.protocol import PROTOCOL_DIR
from harness.telemetry.battery import RawPowerSupply, parse_dumpsys_battery, power_supply_from_files
from harness.telemetry.conventions import CurrentConvention, UnitMemory, judge_units, readings_extra
from harness.telemetry.odpm import parse_power_stats
from harness.telemetry.sampler_output import SAMPLER_SCRIPT
from harness.telemetry.thermal import ThermalDump, parse_thermalservice

__all__ = ["AndroidDevice", "discover_android", "native_bundle", "parse_getprop", "soc_name"]

POWER_STATS = "android.hardware.power.stats.IPowerStats/default"
PS_DIR = "/sys/class/power_supply/battery"
THERMAL_DIR = "/sys/class/thermal"
CPU_DIR = "/sys/devices/system/cpu"
_PS_FILES = ("current_now", "voltage_now", "status", "charge_counter", "charge_full_design", "charge_full", "temp",
             "capacity")
_SEP = "@@harness@@"


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` output to a dict. Sample line: `[ro.product.model]: [Pixel 7]`."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("]: [")
        if sep and key.startswith("[") and value.endswith("]"):
            props[key[1:]] = value[:-1]
    return props


class AndroidDevice(Device):
    """A phone reached through an adb server (local, remote lab host, or adb over Wi-Fi)."""

    scheme = "android"
    claim_note = ""  # after `claim`: whose stale lock it took over, if it did
    capabilities = Capabilities(
        formats=("tflite",),
        runners=(RUNNERS["native"],
                 # Android has no public API to set a thread's CPU affinity: the app cannot honour `cpus`
                 dataclasses.replace(RUNNERS["companion"], description="the companion app (am instrument)",
                                     delegates=("cpu", "xnnpack", "nnapi", "gpu"), placement=False),
                 dataclasses.replace(RUNNERS["benchmark_model"], delegates=tuple(BENCHMARK_MODEL_DELEGATES))),
        conditions=tuple(CONDITIONS),
        default_runner="native",  # no app install; the companion is for NNAPI/GPU delegates
    )

    def __init__(self, serial: str, servers: Sequence[AdbServer] | None = None, *, work_dir: str = DEVICE_ROOT,
                 sample_interval_s: float = 0.1, replay: bool = True):
        if not serial or any(c.isspace() for c in serial):
            raise UserError(f"bad Android serial {serial!r}")
        self.id = f"android:{serial}"
        server, adb_device = find_device(serial, list(servers) if servers is not None else adb_servers())
        self.shell = Shell(server, adb_device)
        self.work_dir = work_dir
        # This session's own directory for per-job files (staged artifacts stay shared: content-addressed).
        self.session = session_token()
        self.session_dir = session_dir(work_dir, self.session)
        self.lock = PhoneLock(self.shell, posixpath.join(work_dir, "lock"), self.session)
        self.stager = Stager(self.shell, work_dir)
        self.conditions = ConditionManager(self.shell, work_dir, self.lock.path, self.session)
        self.runner = InstrumentationRunner(self.shell, self.session_dir)
        self.native = NativeRunner(self.shell, self.session_dir)
        self.benchmark_model = BenchmarkModelRunner(self.shell)
        self._interval = sample_interval_s
        self._convention: CurrentConvention | None = None  # as the description read it
        self.units = UnitMemory()  # raw units decided from evidence by every sampler run (and describe) since
        self._odpm = False
        self._description: DeviceDescription | None = None
        # A run killed outright left its conditions on the phone: undo them before anything else (not while
        # another session holds the phone: they are its conditions, still in use).
        self.recovered = (self.conditions.restore()
                          if replay and self.conditions.pending() and self.conditions.holder is None else [])
        # ... and a sampler it left running (its lease bounds it; this ends it now, by its recorded PID)
        self.killed_samplers = (kill_leftover_samplers(self.shell, posixpath.join(work_dir, "telemetry"))
                                if replay and self.conditions.holder is None else [])

    @classmethod
    def open(cls, device_id: str) -> AndroidDevice:
        return cls(device_id.partition(":")[2])

    @classmethod
    def discover(cls) -> list[Device]:
        return list(discover_android())

    @classmethod
    def forget(cls, device_id: str) -> list[str]:
        device = cls(device_id.partition(":")[2], replay=False)
        try:
            pending = device.conditions.pending()
            device.conditions.forget()
            return pending
        finally:
            device.close()

    @classmethod
    def problems(cls) -> list[DeviceProblem]:
        return [DeviceProblem(f"android:{serial}", state, adb_state_fix(state, serial, server))
                for server, serial, state in list_states(adb_servers()) if state != "device"]

    # ---------------------------------------------------------------- describe

    def describe(self) -> DeviceDescription:
        if self._description is None:
            self._description = self._describe()
        return self._description

    def _describe(self) -> DeviceDescription:
        reads = "; ".join(
            f'if read -r v < {sh_join([posixpath.join(PS_DIR, f)])}; then echo "{f}=$v"; fi' for f in _PS_FILES
        )
        command = (
            f"getprop; echo {_SEP}; for i in 1 2 3; do {{ {reads}; }} 2>/dev/null; echo {_SEP}; sleep 0.2; done; "
            f"dumpsys battery; echo {_SEP}; dumpsys {POWER_STATS} 2>&1; echo {_SEP}; nproc; echo {_SEP}; "
            f"for z in {THERMAL_DIR}/thermal_zone*; do if read -r t < \"$z/type\"; then echo \"$t\"; fi; done "
            f"2>/dev/null; echo {_SEP}; dumpsys thermalservice 2>&1; echo {_SEP}; "
            f"for c in {CPU_DIR}/cpu[0-9]*; do if read -r f < \"$c/cpufreq/cpuinfo_max_freq\"; then "
            f"echo \"${{c##*/cpu}}:$f\"; fi; done 2>/dev/null"
        )
        parts = self.shell.run(command, timeout_s=60).stdout.split(_SEP)
        if len(parts) != 10:
            raise DeviceError(f"{self.shell.serial}: unexpected describe output ({len(parts)} sections)")
        props = parse_getprop(parts[0])
        readings = [power_supply_from_files(_kv_lines(p)) for p in parts[1:4]]
        battery = parse_dumpsys_battery(parts[4])
        rails = parse_power_stats(parts[5])
        self._odpm = bool(rails)
        # three readings 0.2 s apart and `dumpsys battery` after them: judged like any sampler run
        units = judge_units([(i * 200_000_000, r) for i, r in enumerate(readings)], [(400_000_000, battery)],
                            self.units)
        units.record(self.units)
        self._convention = units.convention()
        sdk = int(props.get("ro.build.version.sdk", "0") or 0)
        extra = {
            "serial": self.shell.serial, "adb_server": str(self.shell.server),
            "transport": "tcp" if ":" in self.shell.serial else "usb",
            "sdk": str(sdk), "fingerprint": props.get("ro.build.fingerprint", ""),
            "manufacturer": props.get("ro.product.manufacturer", ""),
            "plugged_at_describe": str(battery.plugged).lower(),
            "odpm_rails": ",".join(r.rail for r in rails),
            "thermal_sources": thermal_sources(parts[7].split(), parse_thermalservice(parts[8])),
            "cpu_max_khz": ",".join(sorted((c for c in parts[9].split() if re.fullmatch(r"\d+:\d+", c)),
                                           key=lambda c: int(c.split(":")[0]))),
            **self._convention.to_extra(), **readings_extra(readings),
        }
        return DeviceDescription(
            id=self.id, kind="android", model=props.get("ro.product.model", "unknown"),
            os=f"Android {props.get('ro.build.version.release', '?')} (API {sdk})",
            soc=soc_name(props), abi=props.get("ro.product.cpu.abi", "unknown"),
            cores=int(parts[6].strip() or 0) if parts[6].strip().isdigit() else 0,
            battery_capacity_mah=_capacity_mah(readings[-1]),
            accelerators=("cpu", "xnnpack", "nnapi", "gpu"),
            energy_sources=self._energy_sources(readings, rails),
            extra=extra,
        )

    def _energy_sources(self, readings: list[RawPowerSupply], rails: Sequence[Any]) -> tuple[EnergySource, ...]:
        rate = 1.0 / self._interval
        odpm = EnergySource("odpm", available=bool(rails), rate_hz=rate / SamplerConfig.slow_every,
                            resolution="1 uJ" if rails else "",
                            reason="" if rails else f"no ODPM rails from `dumpsys {POWER_STATS}` (Pixel 6+ only)")
        last = readings[-1]
        gauge_ok = last.current_now is not None and last.voltage_now is not None
        decided = self._convention is not None and self._convention.unit_state in ("decided", "earlier")
        unit = self._convention.current_unit if self._convention and decided else ""
        fuel = EnergySource("fuel_gauge", available=gauge_ok, rate_hz=rate,
                            resolution=f"1 {unit}" if gauge_ok and unit else "",
                            reason="" if gauge_ok else f"{PS_DIR} lacks current_now or voltage_now")
        counter = EnergySource("charge_counter", available=bool(last.charge_counter), rate_hz=rate,
                               resolution="1 uAh" if last.charge_counter else "",
                               reason="" if last.charge_counter else f"{PS_DIR}/charge_counter missing or 0")
        return (odpm, fuel, counter)

    # ---------------------------------------------------------------- stage / run / sample

    def stage(self, artifacts: Sequence[Artifact]) -> dict[str, str]:
        files = [self._sampler_file()]
        for artifact in artifacts:
            digest = sha256_file(artifact.path)
            if digest != artifact.sha256:
                raise DeviceError(f"{artifact.path} changed since it was built (sha256 {digest[:12]}…)")
            suffix = artifact.path.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", artifact.path.suffix) else ""
            files.append(StagedFile(artifact.path, digest, self.stager.artifact_path(digest, suffix)))
        self.stager.stage(files)
        return {f.sha256: f.device_path for f in files[1:]}

    def _sampler_file(self) -> StagedFile:
        return StagedFile(SAMPLER_SCRIPT, sha256_file(SAMPLER_SCRIPT),
                          posixpath.join(self.work_dir, "bin", SAMPLER_SCRIPT.name))

    def run(self, job: dict[str, Any], on_event: EventCallback | None = None, *,
            timeout_s: float = DEFAULT_JOB_TIMEOUT_S, runner: str = "companion") -> list[dict[str, Any]]:
        self._renew(timeout_s)
        if runner == "native":
            if self.native.bundle_dir is None:
                self.stage_native()
            return self.native.run(job, on_event, timeout_s)
        return self.runner.run(job, on_event, timeout_s)

    def _renew(self, timeout_s: float) -> None:
        """While claimed: the phone's lease outlasts this job (and the gap after it), and the session's job
        directory exists; one round trip, the one that made the directory before."""
        if self.lock.held:
            self.lock.renew(timeout_s + LEASE_S, then=sh_join(["mkdir", "-p", self.runner.jobs_dir]))
            self.runner.dir_ready = self.native.dir_ready = True

    def stage_native(self) -> str:
        """Push the aarch64 native-runner bundle (device_apps/native; only files whose sha256 changed) into
        `bin/native-<digest>/`; its directory on the phone."""
        bundle = native_bundle()
        manifest = json.loads((bundle / "MANIFEST.json").read_text())
        folder = posixpath.join(self.work_dir, "bin", f"native-{manifest['digest'][:16]}")
        executables = {"runner", "ld-linux-aarch64.so.1"}
        self.stager.stage([StagedFile(bundle / name, sha, posixpath.join(folder, name),
                                      0o755 if name in executables else 0o644)
                           for name, sha in sorted(manifest["files"].items())])
        self.native.bundle_dir = folder
        return folder

    def check_runners(self, runners: set[str]) -> None:
        if "native" in runners:
            self.stage_native()
        if "companion" not in runners:
            return
        listed = self.shell.run(sh_join(["pm", "list", "instrumentation"]), check=False).stdout
        if f"instrumentation:{RUNNER_COMPONENT} " not in listed + " ":
            raise CompanionAppError(
                f"{self.id}: the companion app ({RUNNER_COMPONENT.split('/')[0]}) is not installed; build it "
                f"(device_apps/android/README.md) and install it: adb -s {sh_join([self.shell.serial])} install "
                "-r device_apps/android/app/build/outputs/apk/debug/app-debug.apk")

    def stage_benchmark_model(self, binary: Path) -> str:
        """Push the user's LiteRT `benchmark_model` (only when its sha256 changed); its path on the phone."""
        digest = sha256_file(binary)
        staged = StagedFile(binary, digest, posixpath.join(self.work_dir, "bin", f"benchmark_model-{digest}"), 0o755)
        self.stager.stage([staged])
        return staged.device_path

    def run_benchmark_model(self, binary: str, job: dict[str, Any], *,
                            timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> AggregateTimings:
        """Run one infer job with a staged `benchmark_model` (see `stage_benchmark_model`); aggregates only."""
        self._renew(timeout_s)
        return self.benchmark_model.run(binary, job, timeout_s)

    def sampler(self) -> TelemetrySampler:
        script = self._sampler_file()
        self.stager.stage([script])
        if self._description is None:
            self.describe()
        config = SamplerConfig(script_path=script.device_path, work_dir=posixpath.join(self.work_dir, "telemetry"),
                               interval_s=self._interval, odpm=self._odpm)
        return AndroidSampler(self.shell, config, self.units)

    def snapshot(self) -> list[Sample]:
        """One reading of every channel in one shell round trip (cool-downs poll this before every job)."""
        return self.sampler().once()

    # ---------------------------------------------------------------- conditions, Wi-Fi, close

    def claim(self, owner: str) -> str:
        """Take the phone's own lock (harness.devices.android.phone_lock) until `close()`: DeviceBusy naming a
        live holder; a stale lock is taken over and `claim_note` says whose. Holding the phone, this session
        also clears the job files sessions that never closed left under runs/."""
        self.lock.claim(owner)
        self.claim_note = self.lock.note
        sweep = 'for d in "$1"/*; do [ "$d" = "$1/$2" ] || rm -rf "$d"; done'
        self.shell.run(sh_join(["sh", "-c", sweep, "sh", posixpath.dirname(self.session_dir), self.session]),
                       check=False)
        return self.claim_note

    def close(self) -> None:
        """Remove this session's job files and release the phone's lock if this session holds it. Never
        raises: it runs in `finally` blocks, maybe with the phone gone (a lease left behind expires)."""
        try:
            self.shell.run(f"rm -rf {sh_join([self.session_dir])}; {self.lock.release_command()}", timeout_s=15,
                           check=False)
        except DeviceError:
            pass
        self.lock.held = False

    def induce(self, condition: str, value: Any = None) -> None:
        self.conditions.induce(condition, value)

    def restore(self) -> None:
        self.conditions.restore()

    def forget_personalization(self, variant: str | None = None) -> list[str]:
        """Remove the per-person data staged on the phone (`artifacts/*.npz`: a person's training and
        evaluation windows); the runners keep no delta on the phone (get_weights is returned, measured and
        dropped), so there is none to remove. Models stay staged."""
        kept = (f"no personalization delta{' of ' + variant if variant else ''} is kept on {self.id}: the runner "
                "returns get_weights to the harness, which stores only its size and sha256")
        if variant is not None:
            return [kept, "per-person training data is shared by every variant: forget without --variant removes it"]
        folder = posixpath.join(self.work_dir, "artifacts")
        script = f"for f in {sh_join([folder])}/*.npz; do [ -f \"$f\" ] && echo \"${{f##*/}}\"; done; true"
        names = self.shell.run(script, check=False).stdout.split()
        listing = [posixpath.join(folder, name) for name in names]
        if listing:
            self.shell.run(sh_join(["rm", "-f", *listing]))
        return [kept, *(f"removed {path} (a person's training or evaluation windows)" for path in listing)] if listing \
            else [kept, f"no per-person training data staged under {folder}"]

    def reachable(self) -> bool:
        """Its adb server lists the phone as `device` and it answers a shell command within 10 s."""
        return self.shell.online() and self.shell.run("echo ok", timeout_s=10, check=False).stdout.strip() == "ok"

    def enable_wifi(self, port: int = 5555, timeout_s: float = 15.0) -> str:
        """Switch the phone to adb over TCP and connect to it; returns the new serial (`ip:port`).

        With the phone reachable over Wi-Fi, USB can be unplugged so fuel-gauge energy is valid.
        """
        out = self.shell.run(sh_join(["ip", "-f", "inet", "addr", "show", "wlan0"])).stdout
        address = next((line.split()[1].split("/")[0] for line in out.splitlines()
                        if line.strip().startswith("inet ")), None)
        if address is None:
            raise DeviceError(f"{self.shell.serial}: wlan0 has no IPv4 address (is Wi-Fi on?)")
        client = self.shell.server.client()
        with translate_errors(f"{self.shell.serial}: adb tcpip {port}"):
            self.shell.device.tcpip(port)
            serial = f"{address}:{port}"
            deadline = time.monotonic() + timeout_s
            while "connected" not in client.connect(serial, timeout=5):
                if time.monotonic() > deadline:
                    raise DeviceError(f"could not connect to {serial} over Wi-Fi")
                time.sleep(0.5)
        return serial


def native_bundle() -> Path:
    """The built aarch64 native-runner bundle on this computer (device_apps/native/build.py); UserError
    saying how to build it. The harness never builds or downloads it itself."""
    script = PROTOCOL_DIR.parent / "native" / "build.py"
    spec = importlib.util.spec_from_file_location("phonebench_native_build", script)
    if spec is None or spec.loader is None:
        raise UserError(f"{script} is missing: the native runner's build script comes with the repository")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bundle = module.bundle_dir("aarch64")
    if bundle is None:
        raise UserError("the aarch64 native runner is not built: run `nox -s native` (it fetches the pinned "
                        "LiteRT wheel and cross-compiles with gcc-aarch64-linux-gnu)")
    return bundle


def adb_state_fix(state: str, serial: str, server: AdbServer) -> str:
    """How to make a phone in adb state `state` usable."""
    fixes = {
        "unauthorized": "unlock the phone and accept its 'Allow USB debugging' prompt (or revoke the USB debugging "
                        "authorizations in Developer options and plug it in again)",
        "offline": f"reconnect it: `adb -H {server.host} -P {server.port} reconnect offline`, or replug the cable",
        "no permissions": "this user may not open the USB device: add a udev rule for it (plugdev group), or run "
                          "the adb server as a user that may",
        "authorizing": "wait a moment: the phone is answering its USB debugging prompt",
    }
    return fixes.get(state, f"adb says {state!r}; `adb -s {serial} reconnect` or replug it")


def discover_android(extra_servers: Sequence[str] = ()) -> list[AndroidDevice]:
    """Every online phone on the local adb server and the configured remote ones."""
    return [AndroidDevice(serial, [server]) for server, serial in list_serials(adb_servers(extra_servers))]


def thermal_sources(zone_types: Sequence[str], dump: ThermalDump) -> str:
    """Which thermal sources the phone has, e.g. `hal (12 sensors), 8 zones`: `dumpsys thermalservice`
    temperatures (live from the HAL, else its cache) and /sys/class/thermal zones."""
    found = [f"{dump.temperatures_source} ({len(dump.temperatures)} sensor{'s' * (len(dump.temperatures) != 1)})"
             if dump.temperatures else ""]
    if zone_types:
        found.append(f"{len(zone_types)} zone{'s' * (len(zone_types) != 1)}")
    return ", ".join(f for f in found if f) or "none"


def _kv_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def soc_name(props: dict[str, str]) -> str:
    """The most specific SoC name the properties give.

    `ro.soc.manufacturer` + `ro.soc.model` where present (API 31+); else whichever of `ro.hardware` and
    `ro.board.platform` names the chip more precisely (more digits, then longer): a Galaxy S9 says
    `samsungexynos9810` / `exynos5`, an older Snapdragon phone `qcom` / `msm8998`.
    """
    if props.get("ro.soc.model"):
        return f"{props.get('ro.soc.manufacturer', '')} {props['ro.soc.model']}".strip()
    names = [props.get(key, "") for key in ("ro.hardware", "ro.board.platform")]
    return max(names, key=lambda name: (sum(c.isdigit() for c in name), len(name))) or "unknown"


def _capacity_mah(reading: RawPowerSupply) -> float | None:
    design = reading.charge_full_design
    if not design:
        return None
    return design / 1000.0 if design > 100_000 else design  # uAh by ABI, mAh on some kernels
