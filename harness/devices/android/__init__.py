"""The `android:<serial>` backend over adb (local server, remote lab servers, adb over Wi-Fi)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.devices.android.device import AndroidDevice
from harness.devices.android.transport import adb_servers, list_serials

__all__ = ["AndroidDevice", "discover_android"]


def discover_android(extra_servers: Sequence[str] = ()) -> list[AndroidDevice]:
    """Every online phone on the local adb server and the configured remote ones."""
    return [AndroidDevice(serial, [server]) for server, serial in list_serials(adb_servers(extra_servers))]
