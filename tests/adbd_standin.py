"""A device stand-in for Android tests: speaks the adbd wire protocol on 127.0.0.1, backed by a sandbox.

The real Debian `adb` server connects to it (`adb connect 127.0.0.1:PORT`; the server accepts a device
that skips AUTH), so tests drive the whole path through real adbutils and a real server.

- Transport: CNXN / OPEN / OKAY / WRTE / CLSE, one TCP connection multiplexing streams.
- Services: `shell:CMD` (v1, stdout+stderr merged), `shell,v2[,opts]:CMD` (packets: 1 stdout,
  2 stderr, 3 exit), `sync:` (STAT, LIST, SEND, RECV, QUIT), `tcpip:PORT`.
- Commands run under `mksh` with toybox applets and fake Android tools (`dumpsys`, `cmd`, `am`,
  `getprop`, `input`, `ip`, `service`) first on PATH. Device paths under /data, /sys and /sdcard
  are mapped into the sandbox directory; /proc stays the host's (the sampler's clock).
- `am instrument` runs jobs with the host reference runner (`python -m harness.host_runner`), so
  the stand-in's "companion" conforms exactly like the host runner does.
- The native runner's aarch64 bundle really runs: a command starting its loader
  (`./ld-linux-aarch64.so.1 ...`) runs under `qemu-aarch64 -L <sandbox>`, so the guest's absolute
  paths (/data/..., and /proc/cpuinfo: an aarch64 one, tests/fixtures/aarch64_cpuinfo) resolve
  in the sandbox first, as they would on the phone.
- Scripted device time (state `scripted_invoke_ms`): `am instrument` answers with protocol events whose every
  invoke or train step sleeps that long, so a job's time is the phone's and not this computer's CPU (the
  lab's throughput benchmark). State `cut_telemetry_pulls`: that many sampler-file pulls come back cut short.

Running this file as `python adbd_standin.py tool NAME ARGS...` plays one fake Android tool.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

A_CNXN, A_OPEN, A_OKAY, A_WRTE, A_CLSE = (
    int.from_bytes(tag, "little") for tag in (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE")
)
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
MKSH = shutil.which("mksh") or "/bin/mksh"
REPO = Path(__file__).resolve().parents[1]
TOOLS = ("dumpsys", "cmd", "am", "getprop", "input", "ip", "service", "pm", "qemu-native")
_AARCH64_LOADER = re.compile(r"(?<![\w./-])(\./ld-linux-aarch64\.so\.1)(?=\s)")
AARCH64_CPUINFO = Path(__file__).resolve().parent / "fixtures" / "aarch64_cpuinfo"
DEVICE_ROOTS = ("/data/", "/sys/", "/sdcard/")
_DEVICE_PATH = re.compile(r"(?<![\w./-])(/data/|/sys/|/sdcard/)")
RUNNER_COMPONENT = "org.phonebench.runner/org.phonebench.runner.JobInstrumentation"

DEFAULT_PROPS = {
    "ro.product.model": "Standin 7",
    "ro.product.manufacturer": "Harness",
    "ro.product.name": "standin",
    "ro.product.device": "standin",
    "ro.soc.model": "SM8550",
    "ro.soc.manufacturer": "QTI",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.build.fingerprint": "harness/standin/standin:14/UQ1A/1:user/release-keys",
    "ro.product.cpu.abi": "arm64-v8a",
}

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


class DeviceSandbox:
    """A directory that plays an Android device's filesystem and system tools.

    `state.json` holds what the fake tools change (battery overrides, thermal override, idle,
    screen); power_supply files are plain files tests rewrite to script telemetry over time.
    """

    def __init__(self, root: Path, props: dict[str, str] | None = None, odpm_rails_w: dict[str, float] | None = None):
        self.root = root
        for sub in ("data/local/tmp", "sdcard", "bin", "proc"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(AARCH64_CPUINFO, root / "proc" / "cpuinfo")  # what the native runner's XNNPACK reads
        self.battery_dir.mkdir(parents=True, exist_ok=True)
        self.write_state(
            {
                "props": {**DEFAULT_PROPS, **(props or {})},
                "battery_unplugged": False,
                "battery_level": None,
                "thermal_override": None,
                "idle_forced": False,
                "screen_on": True,
                "odpm_rails_w": odpm_rails_w,
                "odpm_t0": time.monotonic(),
                "runner_delay_s": 0.0,
                "job_current_now": None,  # current_now while a job runs (the phone working harder)
                "job_settle_s": 0.3,
                "companion_installed": True,  # `pm list instrumentation` shows the companion's runner
                # dumpsys/cmd services this phone lacks ("Can't find service"), and ones that answer but
                # ignore every change (a vendor build that does not honour the shell override)
                "missing_services": [],
                "inert_services": [],
                "log": [],
            }
        )
        self.set_power_supply(
            current_now="-450000", voltage_now="3900000", charge_counter="3000000", temp="291",
            capacity="80", status="Discharging", charge_full_design="4500000",
        )
        for index, (kind, milli) in enumerate([("cpu0-silver", "41500"), ("battery", "33100")]):
            zone = root / "sys/class/thermal" / f"thermal_zone{index}"
            zone.mkdir(parents=True, exist_ok=True)
            (zone / "type").write_text(kind + "\n")
            (zone / "temp").write_text(milli + "\n")
        # two cores like this computer's (the runners pin themselves to real CPUs): a little and a big one
        for cpu, (max_khz, cur_khz) in enumerate([(1804800, 1497600), (2841600, 2419200)]):
            freq = root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
            freq.mkdir(parents=True, exist_ok=True)
            (freq / "cpuinfo_max_freq").write_text(f"{max_khz}\n")
            policy = root / f"sys/devices/system/cpu/cpufreq/policy{cpu}"
            policy.mkdir(parents=True, exist_ok=True)
            (policy / "scaling_cur_freq").write_text(f"{cur_khz}\n")
            (policy / "scaling_governor").write_text("schedutil\n")
        self._install_tools()

    @property
    def battery_dir(self) -> Path:
        return self.root / "sys/class/power_supply/battery"

    def set_power_supply(self, **files: str) -> None:
        """Rewrite power_supply files atomically (a sampler never reads half a value)."""
        for name, value in files.items():
            tmp = self.battery_dir / f".{name}.tmp"
            tmp.write_text(value + "\n")
            tmp.replace(self.battery_dir / name)

    def state(self) -> dict[str, Any]:
        return json.loads((self.root / "state.json").read_text())

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.root / ".state.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(self.root / "state.json")

    def update_state(self, **changes: Any) -> None:
        self.write_state({**self.state(), **changes})

    def host_path(self, device_path: str) -> Path:
        """Where a device path lives in the sandbox (a path already mapped into it is kept)."""
        if device_path.startswith(str(self.root) + "/"):
            return Path(device_path)
        if not device_path.startswith(DEVICE_ROOTS):
            raise PermissionError(f"stand-in serves only {DEVICE_ROOTS}, not {device_path}")
        return self.root / device_path.lstrip("/")

    def translate_command(self, command: str) -> str:
        command = _DEVICE_PATH.sub(lambda m: str(self.root) + m.group(1), command)
        return _AARCH64_LOADER.sub(r"qemu-native \1", command)

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.root / 'bin'}:{self.root / 'toybox'}",
            "HOME": str(self.root / "data/local/tmp"),
            "STANDIN_ROOT": str(self.root),
            "PYTHONPATH": str(REPO),
            "LANG": "C",
        }

    def _install_tools(self) -> None:
        toybox = self.root / "toybox"
        toybox.mkdir(exist_ok=True)
        applets = subprocess.run(["toybox"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if not (toybox / applet).exists():
                (toybox / applet).symlink_to("/usr/bin/toybox")
        if not (self.root / "bin/sh").exists():
            (self.root / "bin/sh").symlink_to(MKSH)  # Android's /system/bin/sh is mksh
        for tool in TOOLS:
            path = self.root / "bin" / tool
            path.write_text(f'#!{MKSH}\nexec {shlex.quote(sys.executable)} {shlex.quote(__file__)} tool {tool} "$@"\n')
            path.chmod(0o755)

    def spawn(self, command: str) -> subprocess.Popen[bytes]:
        """Run a device shell command like adbd does (`sh -c`), in its own process group."""
        return subprocess.Popen(
            [MKSH, "-c", self.translate_command(command)],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )


# --------------------------------------------------------------------------- wire protocol


def _packet(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    header = struct.pack("<6I", command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF)
    return header + data


class _Stream:
    """One OPENed service: sends WRTE one at a time, waiting for the host's OKAY (flow control)."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.acked = threading.Semaphore(0)
        self.writing = threading.Lock()  # stdout and stderr pumps share one stream
        self.closed = threading.Event()
        self.inbox: list[bytes] = []
        self.inbox_ready = threading.Condition()

    def write(self, data: bytes) -> bool:
        with self.writing:
            return self._write(data)

    def _write(self, data: bytes) -> bool:
        for offset in range(0, len(data), self.conn.max_payload):
            if self.closed.is_set():
                return False
            self.conn.send(_packet(A_WRTE, self.local_id, self.remote_id, data[offset : offset + self.conn.max_payload]))
            while not self.acked.acquire(timeout=0.2):
                if self.closed.is_set() or self.conn.dead.is_set():
                    return False
        return True

    def read(self, n: int) -> bytes:
        """Exactly n bytes the host wrote to this stream, or b'' once it closed."""
        with self.inbox_ready:
            while sum(map(len, self.inbox)) < n:
                if self.closed.is_set():
                    return b""
                self.inbox_ready.wait(0.2)
            data = b"".join(self.inbox)
            self.inbox = [data[n:]] if len(data) > n else []
            return data[:n]

    def received(self, data: bytes) -> None:
        with self.inbox_ready:
            self.inbox.append(data)
            self.inbox_ready.notify_all()

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.conn.send(_packet(A_CLSE, self.local_id, self.remote_id))
        with self.inbox_ready:
            self.inbox_ready.notify_all()


class _Connection:
    def __init__(self, server: AdbdStandin, sock: socket.socket):
        self.server, self.sock = server, sock
        self.max_payload = 4096
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.lock = threading.Lock()
        self.dead = threading.Event()

    def send(self, data: bytes) -> None:
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.dead.set()

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("host closed the transport")
            buf += chunk
        return buf

    def serve(self) -> None:
        try:
            while not self.dead.is_set():
                command, arg0, arg1, length, _, _ = struct.unpack("<6I", self._recv_exact(24))
                self._dispatch(command, arg0, arg1, self._recv_exact(length) if length else b"")
        except (ConnectionError, OSError):
            pass
        finally:
            self.dead.set()
            for stream in list(self.streams.values()):
                stream.closed.set()
            self.sock.close()

    def _dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = min(arg1, MAX_PAYLOAD)
            props = self.server.sandbox.state()["props"]
            banner = "device::" + "".join(f"{k}={props[k]};" for k in ("ro.product.name", "ro.product.model", "ro.product.device"))
            self.send(_packet(A_CNXN, A_VERSION, MAX_PAYLOAD, (banner + "features=shell_v2,cmd").encode()))
        elif command == A_OPEN:
            local_id, self.next_id = self.next_id, self.next_id + 1
            stream = _Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            service = data.rstrip(b"\0").decode()
            self.send(_packet(A_OKAY, local_id, arg0))
            threading.Thread(target=self._run_service, args=(stream, service), daemon=True).start()
        elif command == A_OKAY and arg1 in self.streams:
            self.streams[arg1].acked.release()
        elif command == A_WRTE and arg1 in self.streams:
            self.streams[arg1].received(data)
            self.send(_packet(A_OKAY, arg1, arg0))
        elif command == A_CLSE and arg1 in self.streams:
            stream = self.streams.pop(arg1)
            stream.closed.set()
            with stream.inbox_ready:
                stream.inbox_ready.notify_all()

    def _run_service(self, stream: _Stream, service: str) -> None:
        try:
            name, _, rest = service.partition(":")
            options = name.split(",")
            handler = {"shell": _shell_v2 if "v2" in options else _shell_v1, "sync": _sync, "tcpip": _tcpip}.get(options[0])
            if handler is None:
                stream.write(f"unknown service {service}\n".encode())
            else:
                self.server.log.append(service)
                handler(stream, rest)
        finally:
            stream.close()


def _collect(stream: _Stream, proc: subprocess.Popen[bytes], pipes: dict[Any, int], frame: Callable[[int, bytes], bytes]) -> int:
    """Relay a process's output to the stream until it exits; kill it if the host goes away."""
    done = threading.Event()

    def pump(pipe: Any, kind: int) -> None:
        for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
            if not stream.write(frame(kind, chunk)):
                break
        done.set()

    threads = [threading.Thread(target=pump, args=(p, k), daemon=True) for p, k in pipes.items()]
    for thread in threads:
        thread.start()
    try:
        while proc.poll() is None:
            if stream.closed.is_set() or stream.conn.dead.is_set():
                _kill_group(proc)
                return -1
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=5)
        return proc.returncode
    finally:
        for pipe in pipes:
            pipe.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _shell_v1(stream: _Stream, command: str) -> None:
    proc = stream.conn.server.sandbox.spawn(command)
    _collect(stream, proc, {proc.stdout: 1, proc.stderr: 1}, lambda _kind, data: data)


def _shell_v2(stream: _Stream, command: str) -> None:
    proc = stream.conn.server.sandbox.spawn(command)

    def frame(kind: int, data: bytes) -> bytes:
        return struct.pack("<BI", kind, len(data)) + data

    code = _collect(stream, proc, {proc.stdout: 1, proc.stderr: 2}, frame)
    if code >= 0:
        stream.write(frame(3, bytes([code & 0xFF])))


def _tcpip(stream: _Stream, port: str) -> None:
    stream.write(f"restarting in TCP mode port: {int(port)}\n".encode())


def _sync(stream: _Stream, _rest: str) -> None:
    sandbox = stream.conn.server.sandbox
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return
        cmd, length = header[:4].decode(), struct.unpack("<I", header[4:])[0]
        if cmd == "QUIT":
            return
        arg = stream.read(length).decode()
        if cmd == "STAT":
            _sync_stat(stream, sandbox, arg)
        elif cmd == "LIST":
            _sync_list(stream, sandbox, arg)
        elif cmd == "SEND":
            _sync_send(stream, sandbox, arg)
        elif cmd == "RECV":
            _sync_recv(stream, sandbox, arg)
        else:
            _sync_fail(stream, f"unsupported sync command {cmd}")
            return


def _sync_fail(stream: _Stream, message: str) -> None:
    stream.write(b"FAIL" + struct.pack("<I", len(message)) + message.encode())


def _sync_stat(stream: _Stream, sandbox: DeviceSandbox, path: str) -> None:
    try:
        st = sandbox.host_path(path).stat()
        stream.write(b"STAT" + struct.pack("<III", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
    except (OSError, PermissionError):
        stream.write(b"STAT" + struct.pack("<III", 0, 0, 0))


def _sync_list(stream: _Stream, sandbox: DeviceSandbox, path: str) -> None:
    try:
        entries = sorted(sandbox.host_path(path).iterdir())
    except (OSError, PermissionError):
        entries = []
    for entry in entries:
        st = entry.lstat()
        name = entry.name.encode()
        stream.write(b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name)) + name)
    stream.write(b"DONE" + struct.pack("<IIII", 0, 0, 0, 0))


def _sync_send(stream: _Stream, sandbox: DeviceSandbox, arg: str) -> None:
    path, _, mode = arg.rpartition(",")
    chunks: list[bytes] = []
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return
        kind, value = header[:4], struct.unpack("<I", header[4:])[0]
        if kind == b"DONE":
            break
        if kind != b"DATA":
            _sync_fail(stream, f"expected DATA, got {kind!r}")
            return
        chunks.append(stream.read(value))
    try:
        target = sandbox.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(chunks))
        target.chmod(stat.S_IMODE(int(mode)) if mode.isdigit() else 0o644)
    except (OSError, PermissionError) as exc:
        _sync_fail(stream, f"{path}: {exc}")
        return
    stream.write(b"OKAY" + struct.pack("<I", 0))


def _sync_recv(stream: _Stream, sandbox: DeviceSandbox, path: str) -> None:
    try:
        data = sandbox.host_path(path).read_bytes()
    except (OSError, PermissionError) as exc:
        _sync_fail(stream, f"{path}: {exc}")
        return
    if "/telemetry/" in path:
        data = _telemetry_pull(sandbox, path, data)
    for offset in range(0, len(data), 64 * 1024):
        chunk = data[offset : offset + 64 * 1024]
        stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
    stream.write(b"DONE" + struct.pack("<I", 0))


def _telemetry_pull(sandbox: DeviceSandbox, path: str, data: bytes) -> bytes:
    """A sampler file as this pull serves it: cut in half while state `cut_telemetry_pulls` counts down (a
    transfer cut short); every pull is logged to `telemetry_pulls.jsonl` with the `@t` readings it had and gave."""
    state = sandbox.state()
    served = data
    if state.get("cut_telemetry_pulls", 0) > 0:
        sandbox.update_state(cut_telemetry_pulls=state["cut_telemetry_pulls"] - 1)
        served = data[: len(data) // 2]
    with open(sandbox.root / "telemetry_pulls.jsonl", "a") as log:
        log.write(json.dumps({"path": path, "readings": data.count(b"\n@t "), "served": served.count(b"\n@t ")}) + "\n")
    return served


class AdbdStandin:
    """Listens on 127.0.0.1 (never elsewhere) and serves adbd connections from the adb server."""

    def __init__(self, sandbox: DeviceSandbox, port: int = 0):
        self.sandbox = sandbox
        self.log: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._connections: list[_Connection] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = _Connection(self, sock)
            self._connections.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def drop_connections(self) -> None:
        """Cut every transport, like a cable pulled out mid-job."""
        for conn in self._connections:
            conn.dead.set()
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._connections.clear()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self.drop_connections()


# --------------------------------------------------------------------------- fake Android tools


def _tool_getprop(sandbox: DeviceSandbox, args: list[str]) -> int:
    props = sandbox.state()["props"]
    if args:
        print(props.get(args[0], ""))
    else:
        print("\n".join(f"[{k}]: [{v}]" for k, v in sorted(props.items())))
    return 0


def _read_ps(sandbox: DeviceSandbox, name: str) -> str:
    path = sandbox.battery_dir / name
    return path.read_text().strip() if path.exists() else ""


def _dumpsys_battery(sandbox: DeviceSandbox, args: list[str]) -> int:
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
        print("\n".join(lines))
    return 0


def _dumpsys_odpm(sandbox: DeviceSandbox) -> int:
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


def _tool_dumpsys(sandbox: DeviceSandbox, args: list[str]) -> int:
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
        override = state["thermal_override"]
        print(THERMAL_DUMP.format(override=str(override is not None).lower(), status=override or 0), end="")
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


def _tool_cmd(sandbox: DeviceSandbox, args: list[str]) -> int:
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


def _tool_input(sandbox: DeviceSandbox, args: list[str]) -> int:
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


def _tool_ip(_sandbox: DeviceSandbox, args: list[str]) -> int:
    if "wlan0" in args:
        print("30: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n    inet 127.0.0.1/8 scope global wlan0")
    return 0


def _tool_service(_sandbox: DeviceSandbox, args: list[str]) -> int:
    print(f"Service {args[-1] if args else ''}: found")
    return 0


def _tool_pm(sandbox: DeviceSandbox, args: list[str]) -> int:
    """`pm list instrumentation`, in the format of AOSP's PackageManagerShellCommand."""
    if args[:2] != ["list", "instrumentation"]:
        return 1
    if sandbox.state()["companion_installed"]:
        print(f"instrumentation:{RUNNER_COMPONENT} (target=org.phonebench.runner)")
    return 0


def _tool_am(sandbox: DeviceSandbox, args: list[str]) -> int:
    """`am instrument -w -r -e job PATH COMPONENT`: run the job with the host reference runner."""
    if args[:1] != ["instrument"]:
        return 1
    extras = {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg == "-e" and i + 2 < len(args)}
    if args[-1] != RUNNER_COMPONENT:
        print(f"INSTRUMENTATION_FAILED: {args[-1]}")
        return 1
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


def _scripted_events(job: dict[str, Any], invoke_s: float) -> Iterator[str]:
    """The job's protocol events (JSON lines) from a runner whose every invoke or train step takes `invoke_s` on
    the device (state `scripted_invoke_ms`): warm-up + iterations (or steps), on the phone's CLOCK_BOOTTIME."""
    def now() -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)

    def event(name: str, **fields: Any) -> str:
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


def _tool_qemu_native(sandbox: DeviceSandbox, args: list[str]) -> int:
    """An aarch64 program the shell started (the native runner's loader): run it under qemu-user with the
    sandbox as its file-system prefix, stdout straight through; the job's current as for `am instrument`."""
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


_TOOLS: dict[str, Callable[[DeviceSandbox, list[str]], int]] = {
    "getprop": _tool_getprop, "dumpsys": _tool_dumpsys, "cmd": _tool_cmd, "input": _tool_input,
    "ip": _tool_ip, "service": _tool_service, "am": _tool_am, "pm": _tool_pm, "qemu-native": _tool_qemu_native,
}


def _attach(root: Path) -> DeviceSandbox:
    sandbox = DeviceSandbox.__new__(DeviceSandbox)
    sandbox.root = root
    return sandbox


if __name__ == "__main__" and sys.argv[1:2] == ["tool"]:
    sys.exit(_TOOLS[sys.argv[2]](_attach(Path(os.environ["STANDIN_ROOT"])), sys.argv[3:]))
