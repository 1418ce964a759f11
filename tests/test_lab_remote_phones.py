"""Remote phones work like local ones: a phone on another host's adb server (`HARNESS_ADB_SERVERS`) and a
DeviceFarmer/STF-style `HOST:PORT` endpoint nobody `adb connect`ed yet (real adb servers, stand-in phones)."""

from __future__ import annotations

import subprocess

import pytest

from harness.devices.android import AndroidDevice
from tests.adbd_standin import AdbdStandin, DeviceSandbox
from tests.test_android_integration import ADB, _connect, _free_port, adb_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.adb


def test_an_stf_endpoint_is_connected_when_opened(adb_env, tmp_path) -> None:  # noqa: F811 (the imported fixture)
    standin = AdbdStandin(DeviceSandbox(tmp_path / "stf"))
    try:
        listed = subprocess.run([ADB, "devices"], env=adb_env, capture_output=True, text=True, timeout=30).stdout
        assert standin.serial not in listed
        device = AndroidDevice(standin.serial)  # as `--device android:127.0.0.1:PORT` opens it
        try:
            assert device.describe().model == "Standin 7"
        finally:
            device.close()
    finally:
        subprocess.run([ADB, "disconnect", standin.serial], env=adb_env, capture_output=True, timeout=30)
        standin.stop()


def test_a_phone_on_another_hosts_adb_server(adb_env, tmp_path, monkeypatch) -> None:  # noqa: F811
    port = _free_port()
    other = {**adb_env, "ANDROID_ADB_SERVER_PORT": str(port)}
    server = subprocess.Popen([ADB, "-P", str(port), "server", "nodaemon"], env=other, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    standin = AdbdStandin(DeviceSandbox(tmp_path / "remote"))
    try:
        _connect(other, standin.serial)
        monkeypatch.setenv("HARNESS_ADB_SERVERS", f"127.0.0.1:{port}")
        device = AndroidDevice(standin.serial)
        try:
            assert device.describe().extra["adb_server"] == f"127.0.0.1:{port}"
        finally:
            device.close()
        local = subprocess.run([ADB, "devices"], env=adb_env, capture_output=True, text=True, timeout=30).stdout
        assert standin.serial not in local  # found on the other host's server, not connected here
    finally:
        standin.stop()
        server.kill()
        server.wait()
