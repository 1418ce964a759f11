"""adb transport: which servers to ask, one phone by serial, and adb errors translated at the boundary.

A device lab is several hosts each running an adb server. The servers asked are the local one
(`ANDROID_ADB_SERVER_HOST`/`ANDROID_ADB_SERVER_PORT`, default 127.0.0.1:5037) and every `host:port`
listed in `HARNESS_ADB_SERVERS` (comma separated) or passed by configuration.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import adbutils
from adbutils._adb import AdbConnection
from adbutils.errors import AdbError, AdbTimeout

from harness.errors import DeviceError, DeviceTimeout, UserError

__all__ = ["AdbServer", "Shell", "ShellResult", "adb_servers", "connect_endpoint", "find_device", "list_serials",
           "list_states", "sh_join", "translate_errors"]

SERVERS_ENV = "HARNESS_ADB_SERVERS"


class _ClosingConnection(AdbConnection):
    """Closes its socket when the server answers FAIL.

    adbutils' `open_transport` raises on FAIL (e.g. "device 'x' not found" once a phone is gone) without
    closing the connection it opened, leaking the socket (a ResourceWarning at garbage collection).
    """

    def check_okay(self) -> None:
        try:
            super().check_okay()
        except AdbError:
            self.close()
            raise


class _Client(adbutils.AdbClient):
    """An adbutils client whose every server connection is a `_ClosingConnection`."""

    def make_connection(self, timeout: float | None = None) -> AdbConnection:
        try:
            conn = _ClosingConnection(self.host, self.port)
        except TimeoutError as exc:
            raise AdbTimeout("connect to adb server timeout") from exc
        if timeout:
            conn.conn.settimeout(timeout)
        return conn


@dataclasses.dataclass(frozen=True)
class AdbServer:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self) -> adbutils.AdbClient:
        return _Client(host=self.host, port=self.port)

    def reachable(self, timeout_s: float = 1.0) -> bool:
        # adbutils starts a *local* adb server when a connect fails; probe first so an unreachable
        # lab host is skipped instead.
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout_s):
                return True
        except OSError:
            return False


def parse_server(text: str) -> AdbServer:
    """`host:port` (IPv6 as `[::1]:5037`) to an AdbServer; UserError names the bad entry."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"bad adb server {text!r}: expected host:port, e.g. lab-3.local:5037")
    return AdbServer(host.strip("[]"), int(port))


def adb_servers(extra: Sequence[str] = ()) -> list[AdbServer]:
    """The local server first, then configured remote ones, without duplicates."""
    local = AdbServer(
        os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1"), int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    )
    listed = [s for s in os.environ.get(SERVERS_ENV, "").split(",") if s.strip()]
    servers = [local]
    for entry in [*listed, *extra]:
        server = parse_server(entry)
        if server not in servers:
            servers.append(server)
    return servers


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """adb and socket errors become DeviceError / DeviceTimeout naming what was being done."""
    try:
        yield
    except (AdbTimeout, socket.timeout, TimeoutError) as exc:
        raise DeviceTimeout(f"{what}: timed out ({exc})") from exc
    except (AdbError, OSError, EOFError) as exc:
        raise DeviceError(f"{what}: {exc}") from exc


def list_states(servers: Sequence[AdbServer]) -> list[tuple[AdbServer, str, str]]:
    """(server, serial, adb state) of every phone on reachable servers: `device`, `offline`, `unauthorized`, ..."""
    found: list[tuple[AdbServer, str, str]] = []
    for server in servers:
        if not server.reachable():
            continue
        with translate_errors(f"listing devices on adb server {server}"):
            infos = server.client().list()
        found += [(server, info.serial, info.state) for info in infos]
    return found


def list_serials(servers: Sequence[AdbServer]) -> list[tuple[AdbServer, str]]:
    """(server, serial) of every phone in state `device` on reachable servers."""
    return [(server, serial) for server, serial, state in list_states(servers) if state == "device"]


def connect_endpoint(server: AdbServer, endpoint: str, wait_s: float = 10.0) -> bool:
    """`adb connect HOST:PORT` through `server` (a phone over Wi-Fi, a DeviceFarmer/STF endpoint); whether the
    server lists it online within `wait_s`. Not a `HOST:PORT` serial, or no answer there: False."""
    if not re.fullmatch(r"[\w.-]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}", endpoint) or not server.reachable():
        return False
    with translate_errors(f"adb connect {endpoint} on adb server {server}"):
        if "connected" not in server.client().connect(endpoint, timeout=10):
            return False
    deadline = time.monotonic() + wait_s  # the server shows it `offline` until the transport's handshake ends
    while (server, endpoint) not in list_serials([server]):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def find_device(serial: str, servers: Sequence[AdbServer]) -> tuple[AdbServer, adbutils.AdbDevice]:
    """The server holding `serial`; a `HOST:PORT` serial no server lists is `adb connect`ed through the first
    (local) one, as a DeviceFarmer/STF endpoint; UserError when no reachable server has it online."""
    holder = next((server for server, candidate in list_serials(servers) if candidate == serial), None)
    if holder is None and servers and connect_endpoint(servers[0], serial):
        holder = servers[0]
    if holder is not None:
        return holder, holder.client().device(serial)
    asked = ", ".join(map(str, servers))
    raise UserError(f"no online Android device {serial!r} on adb servers {asked} (see `harness devices`)")


def sh_join(args: Sequence[str]) -> str:
    """A device shell command line from arguments, each quoted for mksh (nothing reaches it raw)."""
    return " ".join(shlex.quote(str(a)) for a in args)


@dataclasses.dataclass(frozen=True)
class ShellResult:
    returncode: int
    stdout: str
    stderr: str


class Shell:
    """Runs commands on one phone; every call translates adb errors."""

    def __init__(self, server: AdbServer, device: adbutils.AdbDevice):
        self.server, self.device = server, device

    @property
    def serial(self) -> str:
        return str(self.device.serial)

    def run(self, command: str, timeout_s: float = 30.0, check: bool = True) -> ShellResult:
        """Run a command line (already quoted, see `sh_join`); DeviceError on non-zero exit if `check`."""
        with translate_errors(f"{self.serial}: shell {command[:80]!r}"):
            ret = self.device.shell2(command, timeout=timeout_s, v2=True, rstrip=False)
        result = ShellResult(ret.returncode, ret.stdout or ret.output, ret.stderr or "")
        if check and result.returncode != 0:
            raise DeviceError(
                f"{self.serial}: `{command[:80]}` exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[:300]}"
            )
        return result

    def stream(self, command: str, timeout_s: float) -> Iterator[str]:
        """Yield output lines of a long command as they arrive; DeviceTimeout after `timeout_s` of silence."""
        with translate_errors(f"{self.serial}: shell {command[:80]!r}"):
            conn = self.device.shell(command, stream=True)
            try:
                conn.conn.settimeout(timeout_s)
                pending = b""
                while chunk := conn.recv(65536):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    yield from (line.decode("utf-8", "replace").rstrip("\r") for line in lines)
                if pending:
                    yield pending.decode("utf-8", "replace")
            finally:
                conn.close()

    def push(self, data: bytes, path: str, mode: int = 0o644) -> None:
        with translate_errors(f"{self.serial}: push {path}"):
            self.device.sync.push(data, path, mode=mode)

    def pull(self, path: str) -> bytes:
        with translate_errors(f"{self.serial}: pull {path}"):
            return self.device.sync.read_bytes(path)

    def online(self) -> bool:
        """Whether the server still sees the phone (used to tell a crash from a lost cable)."""
        # The device list, not `device.get_state()`: a gone phone is simply absent, not a FAIL to handle.
        try:
            return any(i.serial == self.serial and i.state == "device" for i in self.server.client().list())
        except (AdbError, OSError):
            return False
