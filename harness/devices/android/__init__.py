"""The `android:<serial>` backend over adb (local server, remote lab servers, adb over Wi-Fi)."""

from __future__ import annotations

from harness.devices.android.device import AndroidDevice, discover_android

__all__ = ["AndroidDevice", "discover_android"]
