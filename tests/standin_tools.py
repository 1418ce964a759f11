"""The fake Android tools of the device stand-in (tests/adbd_standin.py) and the sandbox files they share.

Every tool call is its own process, started by a shim in the sandbox's `bin/` as `python -S`, so this module
imports little at its top: a `dumpsys` costs a third of the CPU it did as a part of adbd_standin.py, which
counts when eight stand-in phones share this computer's two cores (the lab benchmark).
"""

from __future__ import annotations

import marshal
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

DEVICE_ROOTS = ("/data/", "/sys/", "/sdcard/")
RUNNER_COMPONENT = "org.phonebench.runner/org.phonebench.runner.JobInstrumentation"
# Tool calls whose output is a file in the sandbox, rewritten with every change to the state or power_supply: the
# shim `cat`s it without starting Python (the sampler asks `dumpsys` at each slow reading, its start and its stop;
# every describe and runner check the rest). Filled in below the functions that render them.
SERVED: dict[tuple[str, ...], tuple[str, Callable[[SandboxFiles, dict], str]]] = {}

# A thermalservice dump in the shape of a real Android 14 one (HAL block after a stale cache).
THERMAL_DUMP = """IsStatusOverride: {override}
ThermalEventListeners:
\tcallbacks: 1
\tkilled: false
\tbroadcasts count: -1
ThermalStatusListeners:
\tcallbacks: 2
\tkilled: false
\tbroadcasts count: -1
Thermal Status: {status}
Cached temperatures:
\tTemperature{{mValue=37.0, mType=0, mName=CPU0, mStatus=0}}
HAL Ready: true
HAL connection:
\tThermalHAL AIDL 1  connected: yes
Current temperatures from HAL:
\tTemperature{{mValue=41.500004, mType=0, mName=CPU0, mStatus=0}}
\tTemperature{{mValue=33.1, mType=2, mName=battery, mStatus=0}}
\tTemperature{{mValue=30.25, mType=3, mName=VIRTUAL-SKIN, mStatus=0}}
Current cooling devices from HAL:
\tCoolingDevice{{mValue=0, mType=2, mName=cpu0}}
"""


class SandboxFiles:
    """The files of a stand-in's sandbox that its tools read and change: the state (a `marshal` file: it loads
    without importing json) and power_supply."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def battery_dir(self) -> Path:
        return self.root / "sys/class/power_supply/battery"

    def set_power_supply(self, **files: str) -> None:
        """Rewrite power_supply files atomically (a sampler never reads half a value)."""
        for name, value in files.items():
            tmp = self.battery_dir / f".{name}.tmp"
            tmp.write_text(value + "\n")
            tmp.replace(self.battery_dir / name)
        self._write_dumps(self.state())

    def remove_power_supply(self, *names: str) -> None:
        """Files this phone's kernel does not have (an old one has no charge_counter)."""
        for name in names:
            (self.battery_dir / name).unlink()
        self._write_dumps(self.state())

    def state(self) -> dict:
        return marshal.loads((self.root / "state.marshal").read_bytes())

    def write_state(self, state: dict) -> None:
        self._write(self.root / "state.marshal", marshal.dumps(state))
        self._write_dumps(state)

    def _write_dumps(self, state: dict) -> None:
        for name, render in SERVED.values():
            self._write(self.root / name, render(self, state).encode())

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def update_state(self, **changes: object) -> None:
        self.write_state({**self.state(), **changes})

    def host_path(self, device_path: str) -> Path:
        """Where a device path lives in the sandbox (a path already mapped into it is kept)."""
        if device_path.startswith(str(self.root) + "/"):
            return Path(device_path)
        if not device_path.startswith(DEVICE_ROOTS):
            raise PermissionError(f"stand-in serves only {DEVICE_ROOTS}, not {device_path}")
        return self.root / device_path.lstrip("/")


def _tool_getprop(sandbox: SandboxFiles, args: list[str]) -> int:
    state = sandbox.state()
    print(state["props"].get(args[0], "") if args else _getprop(sandbox, state), end="\n" if args else "")
    return 0


def _getprop(sandbox: SandboxFiles, state: dict) -> str:
    return "".join(f"[{k}]: [{v}]\n" for k, v in sorted(state["props"].items()))


def _read_ps(sandbox: SandboxFiles, name: str) -> str:
    path = sandbox.battery_dir / name
    return path.read_text().strip() if path.exists() else ""


def _dumpsys_battery(sandbox: SandboxFiles, args: list[str]) -> int:
    state = sandbox.state()
    if args[:1] == ["unplug"]:
        sandbox.update_state(battery_unplugged=True, log=[*state["log"], "battery unplug"])
    elif args[:2] == ["set", "level"]:
        sandbox.update_state(battery_level=int(args[2]), log=[*state["log"], f"battery set level {args[2]}"])
    elif args[:1] == ["reset"]:
        sandbox.update_state(battery_unplugged=False, battery_level=None, log=[*state["log"], "battery reset"])
    elif args:
        print(f"Unknown option: {args[0]}", file=sys.stderr)
        return 255
    else:
        print(_battery(sandbox, state), end="")
    return 0


def _battery(sandbox: SandboxFiles, state: dict) -> str:
    """What `dumpsys battery` prints in this state and with these power_supply files."""
    if "battery" in state.get("missing_services", []):
        return "Can't find service: battery\n"
    status = _read_ps(sandbox, "status")
    plugged = status in ("Charging", "Full", "Not charging") and not state["battery_unplugged"]
    overridden = state["battery_unplugged"] or state["battery_level"] is not None
    level = state["battery_level"] if state["battery_level"] is not None else _read_ps(sandbox, "capacity")
    code = {"Charging": 2, "Discharging": 3, "Not charging": 4, "Full": 5}.get(status, 1)
    lines = ["Current Battery Service state:"]
    if overridden:
        lines.append("  (UPDATES STOPPED -- use 'reset' to restart)")
    lines += [
        "  AC powered: false", f"  USB powered: {str(plugged).lower()}", "  Wireless powered: false",
        "  Dock powered: false", "  Max charging current: 500000", "  Max charging voltage: 5000000",
        f"  Charge counter: {_read_ps(sandbox, 'charge_counter')}", f"  status: {code}", "  health: 2",
        "  present: true", f"  level: {level}", "  scale: 100",
        f"  voltage: {int(_read_ps(sandbox, 'voltage_now') or 0) // 1000}",
        f"  temperature: {_read_ps(sandbox, 'temp')}", "  technology: Li-ion",
    ]
    return "\n".join(lines) + "\n"


def _dumpsys_odpm(sandbox: SandboxFiles) -> int:
    state = sandbox.state()
    rails = state["odpm_rails_w"]
    if not rails:
        print("Can't find service: android.hardware.power.stats.IPowerStats/default")
        return 0
    elapsed = time.monotonic() - state["odpm_t0"]
    print("\n============= PowerStats HAL 2.0 energy meter ==============")
    print("  %32s   %18s" % ("Channel", "Cumulative Energy"))
    for name, watts in rails.items():
        print("  %32s   %14.2f mWs" % (name, 1000.0 + watts * elapsed * 1000.0))
    print("========== End of PowerStats HAL 2.0 energy meter ==========")
    return 0


def _thermalservice(sandbox: SandboxFiles, state: dict) -> str:
    """What `dumpsys thermalservice` prints in this state."""
    if "thermalservice" in state.get("missing_services", []):
        return "Can't find service: thermalservice\n"
    override = state["thermal_override"]
    return THERMAL_DUMP.format(override=str(override is not None).lower(), status=override or 0)


def _tool_dumpsys(sandbox: SandboxFiles, args: list[str]) -> int:
    service, rest = (args[0], args[1:]) if args else ("", [])
    state = sandbox.state()
    if service in state.get("missing_services", []):
        print(f"Can't find service: {service}")
        return 0
    if service in state.get("inert_services", []) and rest and rest[:1] != ["get"]:
        return 0
    if service == "battery":
        return _dumpsys_battery(sandbox, rest)
    if service == "thermalservice":
        print(_thermalservice(sandbox, state), end="")
        return 0
    if service == "android.hardware.power.stats.IPowerStats/default":
        return _dumpsys_odpm(sandbox)
    if service == "deviceidle" and rest in (["force-idle"], ["unforce"]):
        sandbox.update_state(idle_forced=rest == ["force-idle"], log=[*state["log"], f"deviceidle {rest[0]}"])
        print("Now forced in to deep idle mode" if rest == ["force-idle"] else "Light state: ACTIVE, deep state: ACTIVE")
        return 0
    if service == "deviceidle" and rest[:1] == ["get"]:
        print("IDLE" if state["idle_forced"] else "ACTIVE")
        return 0
    if service == "power":
        print(f"  mWakefulness={'Awake' if state['screen_on'] else 'Asleep'}")
        return 0
    print(f"Can't find service: {service}")
    return 0


def _tool_cmd(sandbox: SandboxFiles, args: list[str]) -> int:
    state = sandbox.state()
    if args[:1] and args[0] in state.get("missing_services", []):
        print(f"cmd: Can't find service: {args[0]}", file=sys.stderr)
        return 20
    if args[:1] and args[0] in state.get("inert_services", []):
        return 0
    if args[:2] == ["thermalservice", "override-status"] and len(args) == 3:
        if not args[2].isdigit() or int(args[2]) > 6:
            print(f"Invalid status: {args[2]}")
            return 255
        sandbox.update_state(thermal_override=int(args[2]), log=[*state["log"], f"thermal override {args[2]}"])
        return 0
    if args == ["thermalservice", "reset"]:
        sandbox.update_state(thermal_override=None, log=[*state["log"], "thermal reset"])
        return 0
    print(f"cmd: unsupported {args}", file=sys.stderr)
    return 255


def _tool_input(sandbox: SandboxFiles, args: list[str]) -> int:
    state = sandbox.state()
    key = args[1] if args[:1] == ["keyevent"] and len(args) == 2 else ""
    if key in ("KEYCODE_SLEEP", "223"):
        sandbox.update_state(screen_on=False, log=[*state["log"], "screen off"])
    elif key in ("KEYCODE_WAKEUP", "224"):
        if state.get("wake_fails"):
            print("Error: input injection failed", file=sys.stderr)
            return 1
        sandbox.update_state(screen_on=True, log=[*state["log"], "screen on"])
    else:
        return 1
    return 0


def _tool_ip(_sandbox: SandboxFiles, args: list[str]) -> int:
    if "wlan0" in args:
        print("30: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n    inet 127.0.0.1/8 scope global wlan0")
    return 0


def _tool_service(_sandbox: SandboxFiles, args: list[str]) -> int:
    print(f"Service {args[-1] if args else ''}: found")
    return 0


def _tool_pm(sandbox: SandboxFiles, args: list[str]) -> int:
    if args[:2] != ["list", "instrumentation"]:
        return 1
    print(_instrumentation(sandbox, sandbox.state()), end="")
    return 0


def _instrumentation(sandbox: SandboxFiles, state: dict) -> str:
    """`pm list instrumentation`, in the format of AOSP's PackageManagerShellCommand."""
    return f"instrumentation:{RUNNER_COMPONENT} (target=org.phonebench.runner)\n" if state["companion_installed"] else ""


def _tool_am(sandbox: SandboxFiles, args: list[str]) -> int:
    """`am instrument -w -r -e job PATH COMPONENT`: run the job with the host reference runner."""
    if args[:1] != ["instrument"]:
        return 1
    extras = {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg == "-e" and i + 2 < len(args)}
    if args[-1] != RUNNER_COMPONENT:
        print(f"INSTRUMENTATION_FAILED: {args[-1]}")
        return 1
    import json
    import subprocess
    import tempfile

    time.sleep(sandbox.state().get("job_read_delay_s", 0.0))  # a slow start: another may write meanwhile
    job = json.loads(sandbox.host_path(extras["job"]).read_text())
    for key in ("artifact", "input"):
        if "path" in job.get(key, {}):
            job[key]["path"] = str(sandbox.host_path(job[key]["path"]))
    state = sandbox.state()
    time.sleep(state["runner_delay_s"])
    idle_current = _read_ps(sandbox, "current_now")
    if state["job_current_now"] is not None:
        sandbox.set_power_supply(current_now=state["job_current_now"])
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=sandbox.root) as f:
        json.dump(job, f)
    try:
        if state.get("scripted_invoke_ms") is not None:  # the job's time is the device's, not this computer's CPU
            proc, lines = None, _scripted_events(job, state["scripted_invoke_ms"] / 1e3)
        else:
            proc = subprocess.Popen([sys.executable, "-m", "harness.host_runner", f.name], stdout=subprocess.PIPE,
                                    text=True)
            assert proc.stdout is not None
            lines = proc.stdout
        for line in lines:
            print(f"INSTRUMENTATION_STATUS: event={line.rstrip()}", flush=True)
            print("INSTRUMENTATION_STATUS_CODE: 1", flush=True)
        code = proc.wait() if proc else 0
    finally:
        os.unlink(f.name)
        if state["job_current_now"] is not None:
            time.sleep(state["job_settle_s"])  # the sampler sees the job's current past the job's end
            sandbox.set_power_supply(current_now=idle_current)
    print(f"INSTRUMENTATION_RESULT: exit={code}")
    print("INSTRUMENTATION_CODE: -1")
    return 0


def _scripted_events(job: dict[str, object], invoke_s: float) -> Iterator[str]:
    """The job's protocol events (JSON lines) from a runner whose every invoke or train step takes `invoke_s` on
    the device (state `scripted_invoke_ms`): warm-up + iterations (or steps), on the phone's CLOCK_BOOTTIME."""
    import json

    def now() -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)

    def event(name: str, **fields: object) -> str:
        return json.dumps({"event": name, "job_id": job["job_id"], **fields})

    train = job["signature"] == "train"
    count = job["warmup"] + (job["train"]["steps"] if train else job["iterations"])
    yield event("started", protocol=1, t_ns=now(), runner={"name": "standin-scripted", "version": "1"})
    for i in range(count):
        start = now()
        time.sleep(invoke_s)
        end = now()
        fields = {"step": i, "loss": 1.0 / (i + 1)} if train else {"index": i}
        yield event("train_step" if train else "invoke", **fields, warmup=i < job["warmup"], start_ns=start,
                    end_ns=end, latency_ms=(end - start) / 1e6)
    yield event("finished", t_ns=now(), measured=count - job["warmup"])


def _tool_qemu_native(sandbox: SandboxFiles, args: list[str]) -> int:
    """An aarch64 program the shell started (the native runner's loader): run it under qemu-user with the
    sandbox as its file-system prefix, stdout straight through; the job's current as for `am instrument`."""
    import shutil
    import subprocess

    qemu = shutil.which("qemu-aarch64", path="/usr/bin:/usr/local/bin") or shutil.which("qemu-aarch64-static", path="/usr/bin")
    if qemu is None:
        print("qemu-native: qemu-aarch64 is not installed (apt-get install qemu-user)", file=sys.stderr)
        return 126
    state = sandbox.state()
    idle_current = _read_ps(sandbox, "current_now")
    if state["job_current_now"] is not None:
        sandbox.set_power_supply(current_now=state["job_current_now"])
    try:
        sys.stdout.flush()
        code = subprocess.call([qemu, "-L", str(sandbox.root), *args])
    finally:
        if state["job_current_now"] is not None:
            time.sleep(state["job_settle_s"])
            sandbox.set_power_supply(current_now=idle_current)
    return code


SERVED.update({("dumpsys", "thermalservice"): ("thermalservice.txt", _thermalservice),
               ("dumpsys", "battery"): ("battery.txt", _battery), ("getprop",): ("getprop.txt", _getprop),
               ("pm", "list", "instrumentation"): ("instrumentation.txt", _instrumentation)})

_TOOLS: dict[str, Callable[[SandboxFiles, list[str]], int]] = {
    "getprop": _tool_getprop, "dumpsys": _tool_dumpsys, "cmd": _tool_cmd, "input": _tool_input,
    "ip": _tool_ip, "service": _tool_service, "am": _tool_am, "pm": _tool_pm, "qemu-native": _tool_qemu_native,
}


def main() -> None:
    """`python -S -c 'from tests.standin_tools import main; main()' NAME ARGS...`: play one tool."""
    sys.exit(_TOOLS[sys.argv[1]](SandboxFiles(Path(os.environ["STANDIN_ROOT"])), sys.argv[2:]))
