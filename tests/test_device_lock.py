"""Two harness processes never drive one device: the second is refused in one line naming the holder, and
a holder killed outright leaves no stale lock (the kernel drops it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from harness.bench import run_bench
from harness.cli import main
from harness.devices.lock import DeviceBusy, device_lock
from harness.store import Store
from harness.suite import parse_suite
from tests.suites import infer, toy_suite

SUITE = toy_suite("locked", infer(iterations=5))
HOLD = ("import sys, time\nfrom harness.devices.lock import device_lock\n"
        "with device_lock('host', 'a bench of suite nightly'):\n    print('held', flush=True)\n    time.sleep(60)\n")


@pytest.fixture
def holder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path / "locks"))
    proc = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.communicate()


def test_a_second_bench_on_a_held_device_is_refused(holder, tmp_path, capsys, toy_artifact):
    store = Store(tmp_path / "results")
    with pytest.raises(DeviceBusy, match=f"host is in use by another harness process \\(pid {holder.pid}, "
                                         "a bench of suite nightly, since "):
        run_bench(parse_suite(SUITE), store)
    assert store.runs() == []
    (tmp_path / "suite.toml").write_text(SUITE)
    assert main(["bench", "--suite", str(tmp_path / "suite.toml"), "--results", str(store.root)]) == 1
    err = capsys.readouterr().err.strip()
    assert "DeviceBusy: host is in use" in err and len(err.splitlines()) == 1


def test_a_killed_holder_leaves_no_stale_lock(holder, tmp_path, toy_artifact):
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    result = run_bench(parse_suite(SUITE), Store(tmp_path / "results"))
    assert result.status == "complete"
    with device_lock("host", "test"):  # released after the bench, too
        pass


def test_the_lock_is_per_device(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path))
    with device_lock("android:A", "one"), device_lock("android:B", "two"):
        with pytest.raises(DeviceBusy, match="android:A is in use"):
            with device_lock("android:A", "three"):
                pass
    started = time.monotonic()
    with device_lock("android:A", "again"):
        assert time.monotonic() - started < 1
