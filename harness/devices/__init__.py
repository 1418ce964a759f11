"""Device backends and the registry that turns a device id into a backend.

Ids are `<scheme>` or `<scheme>:<rest>`: `host`, `android:<serial>`; later `sim:<profile>`, `ios:<udid>`.
A backend is one module and one line here; it is imported only when an id of its scheme is used,
so e.g. adbutils loads only for phones.
"""

from __future__ import annotations

import importlib

from harness.devices.base import Device
from harness.errors import UserError

__all__ = ["BACKENDS", "backend", "open_device", "discover"]

# id scheme -> "module:Device subclass"
BACKENDS: dict[str, str] = {
    "host": "harness.devices.host:HostDevice",
    "android": "harness.devices.android:AndroidDevice",
}


def backend(device_id: str) -> type[Device]:
    """The backend class for `device_id`'s scheme; UserError naming the known schemes otherwise."""
    scheme = device_id.partition(":")[0]
    if scheme not in BACKENDS:
        known = ", ".join(s if s == "host" else f"{s}:<id>" for s in BACKENDS)
        raise UserError(f"unknown device {device_id!r}: expected one of {known} (see `harness devices`)")
    module, _, name = BACKENDS[scheme].partition(":")
    return getattr(importlib.import_module(module), name)


def open_device(device_id: str) -> Device:
    """The opened device for `device_id`."""
    return backend(device_id).open(device_id)


def discover() -> list[Device]:
    """Every device this machine can reach now, backend by backend (the host first)."""
    return [device for scheme in BACKENDS for device in backend(scheme).discover()]
