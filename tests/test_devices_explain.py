"""`harness devices` lists every device, each probed with its own timeout: a wedged phone is one row with
its fix and hides nothing else; phones adb sees but cannot use are listed with theirs."""

from __future__ import annotations

import json
import threading

import pytest

from harness import devices
from harness.cli import main
from harness.devices.android.device import adb_state_fix
from harness.devices.android.transport import AdbServer
from harness.devices.base import DeviceProblem
from tests.backends.loopback import LoopbackDevice


class Wedged(LoopbackDevice):
    """One phone that never answers `describe`, one that cannot be authorized."""

    scheme = "wedged"
    released = threading.Event()

    def __init__(self, name: str):
        super().__init__(name)
        self.id = f"wedged:{name}"

    @classmethod
    def discover(cls):
        return [cls("stuck")]

    @classmethod
    def problems(cls):
        return [DeviceProblem("wedged:R58M", "unauthorized", adb_state_fix("unauthorized", "R58M",
                                                                          AdbServer("127.0.0.1", 5037)))]

    def describe(self):
        self.released.wait(30)
        return super().describe()


@pytest.fixture
def wedged(monkeypatch):
    monkeypatch.setitem(devices.BACKENDS, "wedged", "tests.test_devices_explain:Wedged")
    yield
    Wedged.released.set()


def test_a_wedged_device_is_one_row_and_hides_nothing(wedged, capsys):
    assert main(["devices", "--json", "--timeout", "1"]) == 0
    listed = {d["id"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["host"]["state"] == "ready"
    assert listed["wedged:stuck"]["state"] == "not answering"
    assert "within 1 s" in listed["wedged:stuck"]["fix"]
    assert "Allow USB debugging" in listed["wedged:R58M"]["fix"]
    assert main(["devices", "--timeout", "1"]) == 0
    table = capsys.readouterr().out
    assert "Present but not usable" in table and "unauthorized" in table


def test_every_adb_state_has_a_fix():
    server = AdbServer("10.0.0.2", 5037)
    assert "reconnect offline" in adb_state_fix("offline", "X", server) and "10.0.0.2" in adb_state_fix(
        "offline", "X", server)
    assert "udev" in adb_state_fix("no permissions", "X", server)
    assert "adb -s X reconnect" in adb_state_fix("sideload", "X", server)
