"""A device lab on loopback for the lab's tests, throughput benchmark and soak (Linux, inside `unshare -n`).

Outside a fresh network namespace Ray resolves a node's address to the machine's external interface even
when told 127.0.0.1, so everything here runs in one whose only interface is `lo` (`in_fresh_netns`,
`netns_command`). A `LabCluster` is a real Ray head plus simulated hosts; each host is its own Ray node
(resource `harness-host:<name>`), its own real adb server, a process serving its stand-in phones
(`python -m tests.lab_cluster phones ...`, the adbd wire protocol) and its `harness lab agent`. Every process
started here is stopped by its PID (with its children), never by name.

Running this file: `python -m tests.lab_cluster phones --adb-port P --phone SANDBOX=PORT ...` serves those
stand-ins, `adb connect`s them to the adb server on P, prints their serials as one JSON line and runs until
killed.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

__all__ = ["ADB", "EIGHT_PHONES", "LabCluster", "LabHost", "eight_phone_lab", "enter_fresh_netns", "in_fresh_netns", "lo_up", "netns_command",
           "serves", "stop_tree"]

ADB = shutil.which("adb") or "/usr/bin/adb"
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def in_fresh_netns() -> bool:
    """Whether this process's network namespace has no interface but `lo`."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def lo_up() -> None:
    """Bring `lo` up (a fresh namespace starts with it down): SIOCGIFFLAGS / SIOCSIFFLAGS |= IFF_UP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = array.array("B", struct.pack("16sH", b"lo", 0) + bytes(22))
        fcntl.ioctl(s.fileno(), 0x8913, request)
        flags = struct.unpack_from("H", request, 16)[0] | 0x1
        struct.pack_into("H", request, 16, flags)
        fcntl.ioctl(s.fileno(), 0x8914, request)


def netns_command(argv: list[str]) -> list[str] | None:
    """`argv` to run in a fresh network namespace (`unshare -n`); None where that is not allowed here."""
    unshare = shutil.which("unshare")
    if sys.platform != "linux" or unshare is None:
        return None
    if subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", *argv]
    if subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn", *argv]  # an unprivileged user: a user namespace maps us to root in it
    return None


def enter_fresh_netns() -> None:
    """From here on this program runs in a fresh network namespace with `lo` up: re-run in one (`unshare -n`,
    exiting with its status) unless already there."""
    if not in_fresh_netns():
        command = netns_command([sys.executable, *sys.argv])
        if command is None:
            raise SystemExit("the lab needs `unshare -n` (Linux, as root or with user namespaces)")
        raise SystemExit(subprocess.call(command))
    lo_up()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def stop_tree(proc: subprocess.Popen | psutil.Process | None, sig: int = signal.SIGKILL) -> None:
    """Stop a process and all its descendants, each by its PID."""
    if proc is None:
        return
    try:
        root = psutil.Process(proc.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)
    if isinstance(proc, subprocess.Popen):
        proc.wait(timeout=10)


# Phone actors wait on their phones, they compute little: at Ray's default worker niceness (15) a machine busy
# with anything else starves them and every job's round trips stretch.
EIGHT_PHONES = {"lab-a": 3, "lab-b": 3, "lab-c": 2}  # the benchmarks' lab: 8 phones on 3 hosts


@contextlib.contextmanager
def eight_phone_lab(work: Path, state: dict[str, Any]) -> Iterator[tuple[LabCluster, list[str]]]:
    """The benchmarks' lab (`EIGHT_PHONES`, every phone starting with stand-in `state`) and its device ids."""
    cluster = LabCluster(work)
    try:
        for name, phones in EIGHT_PHONES.items():
            cluster.add_host(name, phones, state=state)
        yield cluster, [d for host in cluster.hosts.values() for d in host.device_ids]
    finally:
        cluster.stop()


def _ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}


class _NodeExited(RuntimeError):
    """A lab host's `ray start` ended before its node joined."""


def _ray_ports(worker_ports: int) -> list[str]:
    """Every port a Ray node listens on, chosen here: nodes sharing 127.0.0.1 must not collide."""
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--min-worker-port", str(worker_ports), "--max-worker-port", str(worker_ports + 199),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]


@dataclasses.dataclass
class LabHost:
    """One simulated lab host: Ray node, adb server, stand-in phones and agent, each a process of its own."""

    name: str
    adb_port: int
    roots: list[Path]  # each phone's sandbox
    ports: list[int]  # each phone's adbd port: a phone that returns keeps its serial
    state: dict[str, Any]  # stand-in state every phone starts with (e.g. scripted_invoke_ms)
    node: subprocess.Popen | None = None
    adb: subprocess.Popen | None = None
    phones: subprocess.Popen | None = None
    agent: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**_ray_env(), "ANDROID_ADB_SERVER_PORT": str(self.adb_port)}

    @property
    def serials(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    @property
    def device_ids(self) -> list[str]:
        return [f"android:{s}" for s in self.serials]

    def update_state(self, index: int | None = None, **changes: Any) -> None:
        """Change the stand-in state (tests/adbd_standin.py) of phone `index`, or of every phone."""
        from tests.standin_tools import SandboxFiles

        for root in self.roots if index is None else [self.roots[index]]:
            SandboxFiles(root).update_state(**changes)

    def adb_command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ADB, "-P", str(self.adb_port), *args], env=self.env, capture_output=True, text=True,
                              timeout=30)


class LabCluster:
    """A Ray head on 127.0.0.1 and lab hosts joining it; `stop()` stops every process it started."""

    def __init__(self, work: Path):
        self.work = work
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Ray's socket paths must stay short (108 bytes): its temp dir is not under pytest's long tmp path
        self.temp = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))
        self.hosts: dict[str, LabHost] = {}
        # Worker port ranges stay below the ephemeral range (32768-60999) that free_port() draws the nodes' other
        # ports from (a range there once overlapped a dashboard agent's port and the node never started); each
        # process (pid % 5) has 20 ranges of 200 of its own, taken in turn by the nodes it starts.
        self._worker_base, self._node_starts = 12000 + (os.getpid() % 5) * 4000, 0
        self.head = self._ray_start(["--head", "--port", str(self.port), "--include-dashboard", "false",
                                     "--num-cpus", "1"], _ray_env(), "head")
        deadline = time.monotonic() + 120
        while not _listening(self.port):
            if time.monotonic() > deadline or self.head.poll() is not None:
                tail = (work / "ray-head.log").read_text(errors="replace")[-2000:]  # the folder may not outlive us
                raise RuntimeError(f"the lab's Ray head never listened on {self.address}; its log ends:\n{tail}")
            time.sleep(0.2)

    def _ray_start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        worker_ports = self._worker_base + (self._node_starts % 20) * 200
        self._node_starts += 1
        cmd = [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", "--node-ip-address", "127.0.0.1",
               "--temp-dir", str(self.temp), "--object-store-memory", str(80 * 2**20),
               *_ray_ports(worker_ports), *args]
        if "--head" not in args:
            cmd += ["--address", self.address]
        with open(self.work / f"ray-{name}.log", "a") as log:
            return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def add_host(self, name: str, phones: int = 0, *, state: dict[str, Any] | None = None, agent: bool = True,
                 wait_s: float = 120.0) -> LabHost:
        """Start host `name` with `phones` stand-ins (each starting with `state`), or restart a known host with
        its phones on their old ports (their sandboxes kept, the phones freshly booted)."""
        if name in self.hosts:  # until Ray has marked the old node dead, the new host's actors could land on it
            deadline = time.monotonic() + wait_s
            while self._nodes(name) and time.monotonic() < deadline:
                time.sleep(0.5)
        host = self.hosts.get(name) or LabHost(name, free_port(), [self.work / name / f"phone{i}" for i in range(phones)],
                                               [free_port() for _ in range(phones)], state or {})
        self.hosts[name] = host
        host.adb = subprocess.Popen([ADB, "-P", str(host.adb_port), "server", "nodaemon"], env=host.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._start_node(host)
        host.phones = subprocess.Popen(
            [sys.executable, "-m", "tests.lab_cluster", "phones", "--adb-port", str(host.adb_port),
             "--state", json.dumps(host.state),
             *[a for root, port in zip(host.roots, host.ports) for a in ("--phone", f"{root}={port}")]],
            cwd=REPO, env=host.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert host.phones.stdout is not None
        with host.phones.stdout:
            started = json.loads(host.phones.stdout.readline() or "null")
        if started != host.serials:
            raise RuntimeError(f"lab host {name}: its stand-in phones did not start")
        try:
            self.wait_for_node(name, wait_s)
        except _NodeExited:  # a port it was given was taken meanwhile (they are chosen free, then bound): again
            self._start_node(host)
            self.wait_for_node(name, wait_s)
        if agent:
            self.start_agent(name, wait_s)
        return host

    def _start_node(self, host: LabHost) -> None:
        host.node = self._ray_start(["--num-cpus", "1", "--resources",
                                     json.dumps({f"harness-host:{host.name}": 1000})], host.env, host.name)

    def wait_for_node(self, name: str, wait_s: float) -> None:
        from harness.lab.device import connect

        connect(self.address)
        deadline = time.monotonic() + wait_s
        node = self.hosts[name].node
        while not self._nodes(name):
            exited = node is not None and node.poll() is not None
            if exited or time.monotonic() > deadline:
                # the log's end in the message: the folder may not outlive the caller
                tail = (self.work / f"ray-{name}.log").read_text(errors="replace")[-2000:]
                if exited:
                    raise _NodeExited(f"lab host {name}'s Ray node exited ({node.returncode}) before it joined; "
                                      f"its log ends:\n{tail}")
                raise RuntimeError(f"lab host {name}'s Ray node never joined; its log ends:\n{tail}")
            time.sleep(0.2)

    @staticmethod
    def _nodes(name: str) -> list[str]:
        """Ids of the live Ray nodes carrying host `name`'s resource."""
        import ray

        return [n["NodeID"] for n in ray.nodes() if n["Alive"] and f"harness-host:{name}" in n["Resources"]]

    def start_agent(self, name: str, wait_s: float = 120.0) -> None:
        host = self.hosts[name]
        with open(self.work / f"agent-{name}.log", "a") as log:
            host.agent = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "lab", "agent", "--address", self.address, "--host", name,
                 "--interval", "0.5"], cwd=REPO, env=host.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait_s
        while not all(serves(device_id) for device_id in host.device_ids):
            if time.monotonic() > deadline or host.agent.poll() is not None:
                raise RuntimeError(f"lab host {name}'s agent never served its phones; see {self.work}/agent-{name}.log")
            time.sleep(0.2)

    def kill_host(self, name: str) -> None:
        """The host is gone: its Ray node, agent, adb server (and the phones' stand-in process) die at once."""
        host = self.hosts[name]
        for proc in (host.agent, host.node, host.adb, host.phones):
            stop_tree(proc)

    def processes(self) -> dict[str, list[psutil.Process]]:
        """Every live process of the cluster by role (`head`, `<host>/node`, `<host>/agent`, ...)."""
        roles = {"head": self.head, **{f"{n}/{r}": getattr(h, r) for n, h in self.hosts.items()
                                         for r in ("node", "agent", "adb", "phones")}}
        found = {}
        for role, proc in roles.items():
            try:
                root = psutil.Process(proc.pid) if proc is not None and proc.poll() is None else None
                found[role] = [root, *root.children(recursive=True)] if root else []
            except psutil.NoSuchProcess:
                found[role] = []
        return found

    def stop(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for name in list(self.hosts):
            self.kill_host(name)
        stop_tree(self.head)
        shutil.rmtree(self.temp, ignore_errors=True)


def serves(device_id: str) -> bool:
    """Whether the lab actor of `device_id` exists and answers within a second."""
    import ray

    try:
        ref = ray.get_actor(device_id, "harness-lab").phone.remote()
    except ValueError:
        return False
    return bool(ray.wait([ref], timeout=1.0)[0])


def _serve_phones(phones: list[str], adb_port: int, state: dict[str, Any]) -> None:
    from tests.adbd_standin import AdbdStandin, DeviceSandbox

    env = {**os.environ, "ANDROID_ADB_SERVER_PORT": str(adb_port)}
    standins = []
    for phone in phones:
        root, _, port = phone.rpartition("=")
        sandbox = DeviceSandbox(Path(root))
        sandbox.update_state(**state)
        standins.append(AdbdStandin(sandbox, int(port)))
    for standin in standins:
        connect = [ADB, "-P", str(adb_port), "connect", standin.serial]
        deadline = time.monotonic() + 30
        while "connected" not in subprocess.run(connect, env=env, capture_output=True, text=True).stdout:
            if time.monotonic() > deadline:
                raise SystemExit(f"adb server on {adb_port} never took {standin.serial}")
            time.sleep(0.2)
    print(json.dumps([s.serial for s in standins]), flush=True)
    threading.Event().wait()  # until killed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab_cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("phones")
    p.add_argument("--phone", action="append", required=True, metavar="SANDBOX=PORT")
    p.add_argument("--adb-port", type=int, required=True)
    p.add_argument("--state", type=json.loads, default={})
    args = parser.parse_args()
    _serve_phones(args.phone, args.adb_port, args.state)


if __name__ == "__main__":
    main()
