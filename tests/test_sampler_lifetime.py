"""The on-phone sampler cannot outlive its harness (issue 9): a lease bounds it, and opening the phone kills
a leftover by its recorded PID (never a recycled PID of another process, never a live session's sampler)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.devices.android import AndroidDevice
from harness.telemetry.sampler_output import SAMPLER_SCRIPT, parse_sampler_output
from tests.adbd_standin import DeviceSandbox
from tests.test_android_integration import REPO, adb_env, phone  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not (shutil.which("mksh") and shutil.which("toybox")), reason="needs mksh and toybox")
TELEMETRY = "/data/local/tmp/phonebench/telemetry"


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may not reap the detached sampler at once)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _uptime() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]))


def test_the_script_ends_itself_when_its_lease_is_not_renewed(tmp_path: Path) -> None:
    sandbox = DeviceSandbox(tmp_path)
    out, lease, pidfile = (f"/data/local/tmp/{name}" for name in ("s.txt", "s.lease", "s.pid"))
    sandbox.host_path(lease).write_text(f"{_uptime() + 3}\n")
    args = [out, "/data/local/tmp/s.stop", "0.05", "4", "/sys/class/power_supply/battery", "/sys/class/thermal",
            "0", "0", lease, pidfile, "testhost:1"]
    proc = sandbox.spawn(" ".join(["sh", str(SAMPLER_SCRIPT), *args]))
    try:
        assert _wait(lambda: sandbox.host_path(pidfile).exists(), 10)
        pid, owner = sandbox.host_path(pidfile).read_text().split()
        assert int(pid) == proc.pid and owner == "testhost:1"
        # renewed twice past the first deadline: still sampling
        for _ in range(2):
            time.sleep(1.5)
            sandbox.host_path(lease).write_text(f"{_uptime() + 3}\n")
        assert proc.poll() is None
        sandbox.host_path(lease).write_text("garbage\n")  # a bad lease keeps the deadline last read
        proc.wait(timeout=10)  # then, unrenewed, it ends by itself
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    text = sandbox.host_path(out).read_text()
    assert text.splitlines()[-1] == "@expired" and not sandbox.host_path(pidfile).exists()
    parsed = parse_sampler_output(text)
    assert parsed.expired and not parsed.complete
    assert len(parsed.dumps) == 1  # `dumpsys battery` at the first reading


def _harness_that_dies(serial: str, lease_s: int) -> str:
    return textwrap.dedent(f"""
        import posixpath, time
        from harness.devices.android import AndroidDevice
        from harness.devices.android.sampler import AndroidSampler, SamplerConfig
        device = AndroidDevice({serial!r})
        default = device.sampler()
        config = SamplerConfig(script_path=default.config.script_path, work_dir=default.config.work_dir,
                               lease_s={lease_s}, renew_s=1.0)
        sampler = AndroidSampler(device.shell, config, device.units)
        sampler.start()
        print(sampler.token, flush=True)
        time.sleep(120)
    """)


def _start_and_kill(sandbox, standin, adb_env, lease_s: int, how=signal.SIGKILL) -> tuple[str, int]:  # noqa: F811
    proc = subprocess.Popen([sys.executable, "-c", _harness_that_dies(standin.serial, lease_s)], cwd=REPO,
                            env=adb_env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        token = proc.stdout.readline().strip()
        assert token, "the harness did not start its sampler"
        time.sleep(1.5)  # it renews at least once
    finally:
        proc.send_signal(how)  # no finally, no atexit: the renewal thread just stops
        proc.wait()
        proc.stdout.close()
    pid_file = sandbox.host_path(f"{TELEMETRY}/{token}.pid")
    pid = int(pid_file.read_text().split()[0])
    assert _running(pid)
    return token, pid


@pytest.mark.adb
def test_a_killed_harness_leaves_a_sampler_that_ends_with_its_lease(phone, adb_env) -> None:  # noqa: F811
    sandbox, standin = phone
    token, pid = _start_and_kill(sandbox, standin, adb_env, lease_s=3, how=signal.SIGTERM)
    assert _wait(lambda: not _running(pid), 8), "the sampler outlived its lease"
    text = sandbox.host_path(f"{TELEMETRY}/{token}.txt").read_text()
    assert text.splitlines()[-1] == "@expired"
    assert not sandbox.host_path(f"{TELEMETRY}/{token}.pid").exists()


@pytest.mark.adb
def test_opening_the_phone_kills_a_leftover_sampler_by_its_pid(phone, adb_env) -> None:  # noqa: F811
    sandbox, standin = phone
    token, pid = _start_and_kill(sandbox, standin, adb_env, lease_s=3600)
    time.sleep(1.0)
    assert _running(pid)  # an hour's lease: it would keep sampling
    # a pid file naming a live process that is not a sampler (a recycled PID): never killed, file dropped
    other = subprocess.Popen(["sleep", "60"])
    sandbox.host_path(f"{TELEMETRY}/s999-0.pid").write_text(f"{other.pid} gonehost:1\n")
    try:
        device = AndroidDevice(standin.serial)
        assert _wait(lambda: not _running(pid), 5)
        assert len(device.killed_samplers) == 1 and f"pid {pid}" in device.killed_samplers[0]
        assert other.poll() is None
        left = sorted(p.name for p in sandbox.host_path(TELEMETRY).iterdir())
        assert left == [], left
        # a sampler of a live session (this process) is left alone by another opening
        with device.sampler().sampling() as samples:
            again = AndroidDevice(standin.serial)
            assert again.killed_samplers == []
            time.sleep(0.3)
        assert any(s.channel == "current" for s in samples)
    finally:
        other.kill()
        other.wait()
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.adb
def test_a_live_harness_keeps_renewing_past_the_first_lease(phone) -> None:  # noqa: F811
    _, standin = phone
    from harness.devices.android.sampler import AndroidSampler, SamplerConfig

    device = AndroidDevice(standin.serial)
    default = device.sampler()
    config = SamplerConfig(script_path=default.config.script_path, work_dir=default.config.work_dir, lease_s=2,
                           renew_s=0.5)
    sampler = AndroidSampler(device.shell, config, device.units)
    with sampler.sampling():
        time.sleep(3.5)  # past the first deadline
    assert sampler.output is not None and sampler.output.complete and not sampler.output.expired
    assert sampler.renew_failures == 0 and "sampler" not in sampler.evidence
