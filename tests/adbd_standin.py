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

The fake tools themselves are tests/standin_tools.py.
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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.standin_tools import SERVED, SandboxFiles

A_CNXN, A_OPEN, A_OKAY, A_WRTE, A_CLSE = (
    int.from_bytes(tag, "little") for tag in (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE")
)
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
MKSH = shutil.which("mksh") or "/bin/mksh"
REPO = Path(__file__).resolve().parents[1]
TOOLS = ("dumpsys", "cmd", "am", "getprop", "input", "ip", "service", "pm", "qemu-native")
_TOOL_MAIN = "from tests.standin_tools import main; main()"  # run by each tool's shim (PYTHONPATH is the repo)
_AARCH64_LOADER = re.compile(r"(?<![\w./-])(\./ld-linux-aarch64\.so\.1)(?=\s)")
AARCH64_CPUINFO = Path(__file__).resolve().parent / "fixtures" / "aarch64_cpuinfo"
_DEVICE_PATH = re.compile(r"(?<![\w./-])(/data/|/sys/|/sdcard/)")

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



def tool_args(cmdline: list[str]) -> list[str]:
    """The tool and its arguments when `cmdline` is a fake tool's process (its shim's `python -S -c ...`), else []."""
    return cmdline[4:] if cmdline[1:4] == ["-S", "-c", _TOOL_MAIN] else []

class DeviceSandbox(SandboxFiles):
    """A directory that plays an Android device's filesystem and system tools.

    The state file holds what the fake tools change (battery overrides, thermal override, idle,
    screen); power_supply files are plain files tests rewrite to script telemetry over time.
    """

    def __init__(self, root: Path, props: dict[str, str] | None = None, odpm_rails_w: dict[str, float] | None = None):
        super().__init__(root)
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
            fast = "".join(f'if [ "$#" = {len(call) - 1} ] && [ "$*" = {shlex.quote(" ".join(call[1:]))} ]; then '
                           f'exec cat {shlex.quote(str(self.root / name))}; fi\n'
                           for call, (name, _) in SERVED.items() if call[0] == tool)
            path.write_text(f"#!{MKSH}\n{fast}exec {shlex.quote(sys.executable)} -S -c {shlex.quote(_TOOL_MAIN)} {tool} \"$@\"\n")
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
        # the output's end (both pipes closed) wakes this at once; a process whose children keep them open
        # is seen to exit within 20 ms
        while proc.poll() is None:
            if stream.closed.is_set() or stream.conn.dead.is_set():
                _kill_group(proc)
                return -1
            if done.wait(0.02) and not any(t.is_alive() for t in threads):
                try:
                    proc.wait(timeout=1)
                    break
                except subprocess.TimeoutExpired:  # its output ended before it did: keep watching the host
                    continue
            done.clear()
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
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as adbd's TCP transport does
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
