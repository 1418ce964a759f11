"""A condition that cannot be undone does not poison the phone: the error says how to undo it by hand and
how to clear the record (`harness restore ID --forget`); `harness restore ID` undoes what a run left."""

from __future__ import annotations

import os

import pytest

from harness.cli import main
from harness.devices.android import AndroidDevice
from harness.errors import DeviceError
from tests.test_android_integration import ADB, adb_env, phone  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.adb, pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed")]


def test_a_stuck_condition_says_how_to_clear_it(phone, monkeypatch, adb_env, capsys):  # noqa: F811
    sandbox, standin = phone
    for key, value in adb_env.items():
        monkeypatch.setenv(key, value)
    device = AndroidDevice(standin.serial)
    device.induce("screen_off")
    sandbox.update_state(wake_fails=True)
    with pytest.raises(DeviceError, match="undo it by hand: adb -s .* shell input keyevent KEYCODE_WAKEUP.*"
                                          f"harness restore android:{standin.serial} --forget"):
        device.restore()
    with pytest.raises(DeviceError, match="could not restore screen_off"):
        AndroidDevice(standin.serial)  # every open replays the journal, and fails the same way
    assert main(["restore", f"android:{standin.serial}", "--forget"]) == 0
    assert "forgot screen_off (not undone)" in capsys.readouterr().out
    AndroidDevice(standin.serial).close()  # the phone opens again


def test_restore_undoes_what_a_killed_run_left(phone, monkeypatch, adb_env, capsys):  # noqa: F811
    sandbox, standin = phone
    for key, value in adb_env.items():
        monkeypatch.setenv(key, value)
    AndroidDevice(standin.serial).induce("screen_off")  # and the harness dies without restoring
    assert not sandbox.state()["screen_on"]
    assert main(["restore", f"android:{standin.serial}"]) == 0
    assert "restored screen_off" in capsys.readouterr().out and sandbox.state()["screen_on"]
