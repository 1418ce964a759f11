"""Device backends and the registry that turns a device id into a backend.

Ids: `host`; `android:<serial>`; later `sim:<profile>` and `ios:<udid>`.
"""

from __future__ import annotations

from harness.devices.base import Device
from harness.devices.host import HostDevice
from harness.errors import UserError

__all__ = ["open_device", "discover"]


def open_device(device_id: str) -> Device:
    """The backend for `device_id`; UserError for an id no backend knows."""
    if device_id == "host":
        return HostDevice()
    kind, _, rest = device_id.partition(":")
    if kind == "android":
        from harness.devices.android import AndroidDevice  # adbutils only when a phone is asked for

        return AndroidDevice(rest)
    raise UserError(f"unknown device {device_id!r}: expected 'host' or 'android:<serial>' (see `harness devices`)")


def discover() -> list[Device]:
    """Every device this machine can reach now: the host, then attached phones."""
    from harness.devices.android import discover_android

    return [HostDevice(), *discover_android()]
