"""Fakes at the pymobiledevice3 11.45.0 service boundary: async, the library's method names and return shapes.

`fake_api(phones)` is a `harness.devices.ios.transport.Api` over `FakePhone`s. A fake phone's app container
is a directory; its companion is the protocol's reference runner (`python -m harness.host_runner`), started
by `ProcessControl.launch` on the job file in the container, whose stdout comes back as
`OutputReceivedEvent`-shaped chunks cut at odd sizes (so lines are reassembled as on a phone). Battery
readings are IOPMPowerSource dictionaries (tests feed the captured ones in tests/fixtures/ios_*); the
condition groups follow the shape go-ios and pymobiledevice3 print for `availableConditionInducers`
(danielpaulus/go-ios pull request #50: identifier ThermalCondition, isActive, profiles with identifier).
Exceptions carry the library's class names, which is how the backend words them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.devices.ios.transport import Api


class ConnectionFailedToUsbmuxdError(Exception):
    pass


class AppNotInstalledError(Exception):
    pass


class UserspaceTunnelUnavailableError(Exception):
    pass


class TunneldConnectionError(Exception):
    pass


class AfcFileNotFoundError(Exception):
    pass


class DeviceNotFoundError(Exception):
    pass


DISCHARGING = {"InstantAmperage": -211, "Amperage": -250, "Temperature": 3010, "Voltage": 4123, "IsCharging": False,
               "ExternalConnected": False, "CurrentCapacity": 78, "DesignCapacity": 3227, "UpdateTime": 1_700_000_000}


def thermal_groups() -> list[dict[str, Any]]:
    profiles = [{"identifier": p, "name": p.removeprefix("Thermal"), "description": f"The system behaves as {p}"}
                for p in ("ThermalFair", "ThermalSerious", "ThermalCritical")]
    return [{"identifier": "SlowNetworkCondition", "name": "Network Link", "isActive": False,
             "profiles": [{"identifier": "SlowNetwork100PctLoss", "name": "100% Loss"}]},
            {"identifier": "ThermalCondition", "name": "Thermal State", "isActive": False, "profiles": profiles}]


@dataclasses.dataclass
class FakePhone:
    udid: str
    container: Path
    version: str = "17.5"
    paired: bool = True
    developer_mode: bool = True
    installed: bool = True
    tunnel: bool = True
    wifi_only: bool = False  # reached over mobdev2, not listed by usbmuxd
    readings: list[dict[str, Any]] = dataclasses.field(default_factory=lambda: [DISCHARGING])
    refresh_every: int = 1  # UpdateTime moves every this many readings
    groups: list[dict[str, Any]] = dataclasses.field(default_factory=thermal_groups)
    writes: list[str] = dataclasses.field(default_factory=list)
    launched: list[list[str]] = dataclasses.field(default_factory=list)
    calls: Iterator[int] = dataclasses.field(default_factory=itertools.count)
    running: dict[int, asyncio.subprocess.Process] = dataclasses.field(default_factory=dict)
    app: tuple[str, ...] = ("-m", "harness.host_runner")  # what the companion runs (python arguments + job)

    def values(self) -> dict[str, Any]:
        return {"UniqueDeviceID": self.udid, "ProductType": "iPhone14,5", "ProductVersion": self.version,
                "BuildVersion": "21F79", "HardwarePlatform": "t8110", "ChipID": 0x8110, "CPUArchitecture": "arm64e",
                "HardwareModel": "D17AP"}

    def battery(self) -> dict[str, Any]:
        n = next(self.calls)
        raw = dict(self.readings[n % len(self.readings)])
        raw.setdefault("UpdateTime", 1_700_000_000)
        raw["UpdateTime"] += 20 * (n // self.refresh_every)
        return raw

    def thermal(self) -> dict[str, Any]:
        return next(g for g in self.groups if g["identifier"] == "ThermalCondition")


@dataclasses.dataclass
class MuxDevice:
    devid: int
    serial: str
    connection_type: str


class _Context:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        pass


class FakeLockdown(_Context):
    def __init__(self, phone: FakePhone):
        self.phone, self.paired, self.udid = phone, phone.paired, phone.udid
        self.all_values = phone.values()

    @property
    def product_version(self) -> str:
        return self.phone.version

    @property
    def has_developer_mode(self) -> bool:
        return int(self.phone.version.split(".")[0]) >= 16

    async def get_developer_mode_status(self) -> bool:
        return self.phone.developer_mode


class FakeRsdTunnel:
    def __init__(self, phones: dict[str, FakePhone], serial: str | None = None, autopair: bool = True):
        self.phone = phones[serial or next(iter(phones))]

    async def aopen(self) -> FakeLockdown:
        if not self.phone.tunnel:
            raise UserspaceTunnelUnavailableError("CoreDeviceProxy is not available on this device")
        return FakeLockdown(self.phone)

    async def aclose(self) -> None:
        pass


class FakeDiagnostics(_Context):
    def __init__(self, lockdown: FakeLockdown):
        self.phone = lockdown.phone

    async def get_battery(self) -> dict[str, Any]:
        return self.phone.battery()


class FakeInstallationProxy(_Context):
    def __init__(self, lockdown: FakeLockdown):
        self.phone = lockdown.phone

    async def get_apps(self, application_type: str = "Any", calculate_sizes: bool = False,
                       bundle_identifiers: list[str] | None = None, show_placeholders: bool = False) -> dict:
        apps = {"org.phonebench.runner": {"CFBundleIdentifier": "org.phonebench.runner"}} if self.phone.installed else {}
        return {k: v for k, v in apps.items() if bundle_identifiers is None or k in bundle_identifiers}


class FakeAfc(_Context):
    """AFC rooted at the app container (house_arrest VendContainer)."""

    def __init__(self, phone: FakePhone):
        self.phone = phone

    @classmethod
    async def create(cls, lockdown: FakeLockdown, bundle_id: str, documents_only: bool = False) -> FakeAfc:
        if not lockdown.phone.installed or bundle_id != "org.phonebench.runner":
            raise AppNotInstalledError(f"No app with bundle ID {bundle_id} is installed.")
        return cls(lockdown.phone)

    def _path(self, name: str) -> Path:
        assert ".." not in Path(name).parts and not name.startswith("/"), name
        return self.phone.container / name

    async def exists(self, filename: str) -> bool:
        return self._path(filename).exists()

    async def makedirs(self, filename: str) -> None:
        self._path(filename).mkdir(parents=True, exist_ok=True)

    async def set_file_contents(self, filename: str, data: bytes) -> None:
        self.phone.writes.append(filename)
        self._path(filename).write_bytes(data)

    async def get_file_contents(self, filename: str) -> bytes:
        if not self._path(filename).is_file():
            raise AfcFileNotFoundError(filename)
        return self._path(filename).read_bytes()

    async def rename(self, source: str, target: str) -> None:
        self._path(source).rename(self._path(target))

    async def listdir(self, filename: str) -> list[str]:
        return sorted(p.name for p in self._path(filename).iterdir())

    async def rm(self, filename: str, match: Any = None, force: bool = False) -> list[str]:
        path = self._path(filename)
        if path.is_dir():
            for child in sorted(path.rglob("*"), reverse=True):
                child.rmdir() if child.is_dir() else child.unlink()
            path.rmdir()
        elif path.exists():
            path.unlink()
        elif not force:
            raise AfcFileNotFoundError(filename)
        return []


class FakeDvt(_Context):
    def __init__(self, provider: FakeLockdown):
        self.phone = provider.phone


@dataclasses.dataclass
class OutputReceivedEvent:
    pid: int
    date: Any
    message: str


class FakeProcessControl(_Context):
    """The companion: the reference runner on the job file, its stdout as output chunks of 7..60 bytes."""

    def __init__(self, dvt: FakeDvt):
        self.phone = dvt.phone
        self._output: asyncio.Queue[OutputReceivedEvent] = asyncio.Queue()

    async def launch(self, bundle_id: str, arguments: list[str] | None = None, kill_existing: bool = True,
                     start_suspended: bool = False, environment: dict | None = None,
                     extra_options: dict | None = None) -> int:
        assert bundle_id == "org.phonebench.runner" and arguments and arguments[0] == "--job"
        self.phone.launched.append(list(arguments))
        job = json.loads((self.phone.container / arguments[1]).read_text())
        for key in ("artifact", "input", "eval"):  # the app resolves container paths against its home
            if isinstance(job.get(key), dict) and "path" in job[key]:
                job[key]["path"] = str(self.phone.container / job[key]["path"])
        resolved = self.phone.container / (arguments[1] + ".resolved")
        resolved.write_text(json.dumps(job))
        process = await asyncio.create_subprocess_exec(sys.executable, *self.phone.app, str(resolved),
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.DEVNULL,
                                                       cwd=str(Path(__file__).resolve().parents[1]),
                                                       env={**os.environ, "PYTHONPATH": str(Path(__file__)
                                                                                            .resolve().parents[1])})
        self.phone.running[process.pid] = process
        asyncio.ensure_future(self._pump(process))
        return process.pid

    async def _pump(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        sizes = itertools.cycle((7, 60, 23, 41))
        while chunk := await process.stdout.read(next(sizes)):
            await self._output.put(OutputReceivedEvent(process.pid, None, chunk.decode()))
        await process.wait()

    async def kill(self, pid: int) -> None:
        process = self.phone.running.get(pid)
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def __aiter__(self):
        while True:
            yield await self._output.get()


class FakeDeviceInfo(_Context):
    def __init__(self, dvt: FakeDvt):
        self.phone = dvt.phone

    async def mach_time_info(self) -> list[int]:
        return [time.monotonic_ns(), 1, 1, 1_700_000_000]  # ticks, numer, denom: the host runner's clock

    async def hardware_information(self) -> dict[str, Any]:
        return {"numberOfCpus": 6, "numberOfPhysicalCpus": 6, "hwCPUtype": 16777228}

    async def is_running_pid(self, pid: int) -> bool:
        process = self.phone.running.get(pid)
        return process is not None and process.returncode is None


class FakeConditionInducer(_Context):
    def __init__(self, dvt: FakeDvt):
        self.phone = dvt.phone

    async def list(self) -> list[dict[str, Any]]:
        return [dict(g) for g in self.phone.groups]

    async def set(self, profile_identifier: str) -> None:
        group = self.phone.thermal()
        group.update(isActive=True, activeProfile=profile_identifier)

    async def clear(self) -> None:
        self.phone.thermal().update(isActive=False, activeProfile="")

    async def close(self) -> None:  # the condition lives only while its connection does
        await self.clear()


class FakeEnergyMonitor(_Context):
    def __init__(self, dvt: FakeDvt, pid_list: list[int]):
        self.pids = pid_list

    async def __aiter__(self):
        for n in itertools.count():
            yield {self.pids[0]: {"energy.cost": 10.0 + n, "energy.cpu.cost": 8.0, "energy.overhead": 1.0,
                                  "kIDEGaugeSecondsSinceInitialQueryKey": n}}
            await asyncio.sleep(0)


def fake_api(phones: dict[str, FakePhone], *, usbmuxd: bool = True) -> Api:
    async def list_devices(usbmux_address: str | None = None) -> list[MuxDevice]:
        if not usbmuxd:
            raise ConnectionFailedToUsbmuxdError()
        return [MuxDevice(i, udid, "USB") for i, udid in enumerate(phones) if not phones[udid].wifi_only]

    async def create_using_usbmux(serial: str | None = None, autopair: bool = True, **_: Any) -> FakeLockdown:
        if not usbmuxd:
            raise ConnectionFailedToUsbmuxdError()
        phone = phones[serial or next(iter(phones))]
        if phone.wifi_only:
            raise DeviceNotFoundError(serial)
        return FakeLockdown(phone)

    async def get_mobdev2_lockdowns(udid: str | None = None, only_paired: bool = False, **_: Any):
        for phone in phones.values():
            if phone.wifi_only and udid in (None, phone.udid):
                yield "192.0.2.7", FakeLockdown(phone)

    async def get_tunneld_device_by_udid(udid: str, **_: Any) -> None:
        raise TunneldConnectionError("tunneld is not running")

    return Api(list_devices, create_using_usbmux, get_mobdev2_lockdowns, get_tunneld_device_by_udid,
               lambda serial=None, autopair=True: FakeRsdTunnel(phones, serial, autopair), FakeDiagnostics,
               FakeInstallationProxy, FakeAfc, FakeDvt, FakeProcessControl, FakeDeviceInfo, FakeConditionInducer,
               FakeEnergyMonitor)
