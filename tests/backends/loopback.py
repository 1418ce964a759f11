"""`loop:<name>`: a test backend (one module + one line in `harness.devices.BACKENDS`, added by the test).

Jobs run on this computer through the host worker; it declares a narrower set of capabilities than the
host (the `cpu` delegate only, no background jobs) and can "induce" `battery_level`, which it records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.devices.base import DeviceDescription
from harness.devices.capabilities import CONDITIONS, RUNNERS, Capabilities
from harness.devices.host import HostDevice
from harness.errors import UserError

REGISTRY_LINE = ("loop", "tests.backends.loopback:LoopbackDevice")


class LoopbackDevice(HostDevice):
    scheme = "loop"
    capabilities = Capabilities(formats=("tflite",), runners=(dataclasses.replace(RUNNERS["companion"],
                                                                                   delegates=("cpu",)),),
                                conditions=("battery_level",))

    def __init__(self, name: str):
        super().__init__()
        self.id = f"loop:{name}"
        self.induced: list[tuple[str, Any]] = []
        self.restored = 0

    @classmethod
    def open(cls, device_id: str) -> LoopbackDevice:
        name = device_id.partition(":")[2]
        if not name:
            raise UserError(f"bad device id {device_id!r}: expected loop:<name>")
        return cls(name)

    @classmethod
    def discover(cls) -> list[LoopbackDevice]:
        return []  # nothing to find: a loopback device exists when a suite names it

    def describe(self) -> DeviceDescription:
        return dataclasses.replace(super().describe(), id=self.id, kind="loop")

    def induce(self, condition: str, value: Any = None) -> None:
        CONDITIONS[condition].check(value)
        self.induced.append((condition, value))

    def restore(self) -> None:
        self.restored += 1
