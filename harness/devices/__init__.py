"""Device backends and the registry that turns a device id into a backend.

Ids are `<scheme>` or `<scheme>:<rest>`: `host`, `android:<serial>`, `sim:<profile>`, `ios:<udid>`.
A backend is one module and one line here; it is imported only when an id of its scheme is used,
so e.g. adbutils loads only for phones.
"""

from __future__ import annotations

import importlib
import threading

from harness.devices.base import Device, DeviceDescription, DeviceProblem
from harness.errors import DeviceError, UserError

__all__ = ["BACKENDS", "backend", "open_device", "survey"]

# id scheme -> "module:Device subclass"
BACKENDS: dict[str, str] = {
    "host": "harness.devices.host:HostDevice",
    "android": "harness.devices.android:AndroidDevice",
    "sim": "harness.devices.sim:SimDevice",
    "ios": "harness.devices.ios:IosDevice",
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


def survey(timeout_s: float = 15.0) -> tuple[list[tuple[Device, DeviceDescription]], list[DeviceProblem]]:
    """Every device this machine can reach now (backend by backend, the host first) with its description,
    and every device that is there but unusable, with its fix.

    Each device describes itself with its own `timeout_s`, so one wedged phone is listed as such and
    hides nothing else; a backend that cannot list its devices is one problem row.
    """
    found: list[Device] = []
    problems: list[DeviceProblem] = []
    for scheme in BACKENDS:
        cls = backend(scheme)
        try:
            found += cls.discover()
            problems += cls.problems()
        except DeviceError as exc:
            problems.append(DeviceProblem(f"{scheme}:*", "unreachable", str(exc)))
    results: dict[int, DeviceDescription | BaseException] = {}

    def describe(i: int, device: Device) -> None:
        try:
            results[i] = device.describe()
        except Exception as exc:  # noqa: BLE001 (reported as the device's problem, not raised)
            results[i] = exc

    threads = [threading.Thread(target=describe, args=(i, d), daemon=True) for i, d in enumerate(found)]
    for thread in threads:  # daemon: a phone that never answers must not keep the harness from exiting
        thread.start()
    for thread in threads:
        thread.join(timeout_s)
    described = []
    for i, device in enumerate(found):
        result = results.get(i)
        if isinstance(result, DeviceDescription):
            described.append((device, result))
        else:
            why = f"did not describe itself within {timeout_s:g} s" if result is None else str(result)
            problems.append(DeviceProblem(device.id, "not answering", f"{why}; unplug and replug it"))
    return described, problems
