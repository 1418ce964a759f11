"""The `ios:<udid>` backend: discovery, describe, staging into the companion's container, jobs through the
companion (Core ML), telemetry beside them, thermal conditions.

The companion's container (house_arrest AFC, paths relative to the app's home directory):

    Documents/phonebench/artifacts/<sha256><suffix>   content-addressed models and data (an .mlpackage
                                                      directory as its stored zip, `.mlpackage.zip`)
    Documents/phonebench/artifacts/<...>.layers.json  an updatable model's layer names (its manifest's)
    Documents/phonebench/runs/<session token>/jobs/   this session's job files; removed on close
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.devices.base import (
    DEFAULT_JOB_TIMEOUT_S,
    Artifact,
    Device,
    DeviceDescription,
    DeviceProblem,
    EventCallback,
    TelemetrySampler,
)
from harness.devices.capabilities import RUNNERS, Capabilities
from harness.devices.ios.conditions import ConditionJournal, IosConditions
from harness.devices.ios.phone import Phone
from harness.devices.ios.runner import run_job
from harness.devices.ios.sampler import ENERGY_SCORE, IosSampler
from harness.devices.ios.transport import FIXES, INSTALL_HINT, LOOP, LibraryMissing, api, check_udid, explain
from harness.devices.session import session_token
from harness.errors import CompanionAppError, DeviceError
from harness.events import EnergySource
from harness.telemetry.iopm import SOURCE, parse_power_source
from models.coreml import stored_zip

__all__ = ["ROOT", "IosDevice", "survey_ios"]

ROOT = "Documents/phonebench"
_SURVEY_S = 5.0  # discover() and problems() right after it share one probe


class IosDevice(Device):
    """An iPhone reached through usbmuxd (USB, or a network device usbmuxd lists), with the companion."""

    scheme = "ios"
    capabilities = Capabilities(
        formats=("coreml",),
        # iOS gives an app no CPU affinity: a workload's `cpus` is refused before the run
        runners=(dataclasses.replace(RUNNERS["companion"], delegates=("coreml-cpu", "gpu", "coreml-ane"),
                                     description="the iOS companion app (Core ML; launched over DVT)",
                                     placement=False),),
        conditions=("thermal_status",),
    )

    def __init__(self, udid: str, *, connection: str = "USB", sample_interval_s: float = 1.0):
        self.udid = check_udid(udid)
        self.id = f"ios:{udid}"
        self.connection, self.sample_interval_s = connection, sample_interval_s
        self.api = api()
        self.phone: Phone = LOOP.call(Phone.connect(self.api, udid), self.id)
        self.session = session_token()
        self.conditions = IosConditions(self.phone, ConditionJournal(udid))
        self._sampler: IosSampler | None = None  # the one sampling now: the job's pid and thermal go to it
        self._description: DeviceDescription | None = None
        # a killed run's condition died with its connection; clear whatever is active and drop its journal
        self.recovered = self.conditions.restore() if self.conditions.journal.pending() else []

    @classmethod
    def open(cls, device_id: str) -> IosDevice:
        return cls(device_id.partition(":")[2])

    @classmethod
    def discover(cls) -> list[Device]:
        return [cls(udid, connection=kind) for udid, kind in survey_ios()[0]]

    @classmethod
    def problems(cls) -> list[DeviceProblem]:
        return survey_ios()[1]

    @classmethod
    def forget(cls, device_id: str) -> list[str]:
        journal = ConditionJournal(check_udid(device_id.partition(":")[2]))
        pending = journal.pending()
        journal.forget()
        return pending

    # ---------------------------------------------------------------- describe

    def describe(self) -> DeviceDescription:
        if self._description is None:
            self._description = self._describe()
        return self._description

    def _describe(self) -> DeviceDescription:
        raw, _ = LOOP.call(self.phone.battery(), f"{self.id}: battery")
        battery = parse_power_source(raw)
        hardware = LOOP.call(self._hardware(), f"{self.id}: hardware information")
        values = self.phone.values
        gauge = battery.current_ma is not None and battery.voltage_mv is not None
        iopm = EnergySource(SOURCE, available=gauge, rate_hz=1 / self.sample_interval_s,
                            resolution="1 mA" if gauge else "",
                            reason="" if gauge else "IOPMPowerSource has no InstantAmperage or Voltage")
        extra = {
            "udid": self.udid, "connection": self.connection, "build": str(values.get("BuildVersion", "")),
            "hardware_model": str(values.get("HardwareModel", "")),
            "external_power_at_describe": str(battery.powered).lower(),
            "iopm_refresh": "the gauge refreshes every few seconds; each job's evidence records the interval seen",
            "current_convention": "InstantAmperage mA, negative = discharging (fixed by IOKit, not detected)",
            ENERGY_SCORE: "Xcode Energy Impact per process over DVT: a unitless relative score, never joules",
            "thermal_sources": "ProcessInfo.thermalState in the companion during jobs; battery temperature",
        }
        return DeviceDescription(
            id=self.id, kind="ios", model=str(values.get("ProductType", "unknown")),
            os=f"iOS {self.phone.version or '?'}", soc=_soc(values),
            abi=str(values.get("CPUArchitecture", "arm64")), cores=int(hardware.get("numberOfCpus") or 0),
            battery_capacity_mah=float(battery.design_capacity_mah) if battery.design_capacity_mah else None,
            accelerators=("cpu", "gpu", "ane"), energy_sources=(iopm,), extra=extra)

    async def _hardware(self) -> dict[str, Any]:
        async with self.api.DeviceInfo(await self.phone.open_dvt()) as info:
            return dict(await info.hardware_information())

    # ---------------------------------------------------------------- stage / run / sample

    def stage(self, artifacts: Sequence[Artifact]) -> dict[str, str]:
        staged = {}
        for artifact in artifacts:
            data, suffix = _artifact_bytes(artifact.path)
            digest = hashlib.sha256(data).hexdigest()
            if digest != artifact.sha256:
                raise DeviceError(f"{artifact.path} changed since it was built (sha256 {digest[:12]}…)")
            path = posixpath.join(ROOT, "artifacts", digest + suffix)
            LOOP.call(self._push(path, data), f"{self.id}: stage {path}", timeout_s=600)
            layers = (artifact.manifest.get("coreml") or {}).get("updatable_layers")
            if layers:  # what the companion's get_weights reads back (Core ML does not list them)
                LOOP.call(self._push(path + ".layers.json", json.dumps(list(layers)).encode()), f"{self.id}: stage")
            staged[digest] = path
        return staged

    async def _push(self, path: str, data: bytes) -> None:
        """Write `path` unless it is there: through `<path>.partial`, read back and sha256-checked, then
        renamed, so a present name is always a whole file."""
        afc = await self.phone.container()
        if await afc.exists(path):
            return
        await afc.makedirs(posixpath.dirname(path))
        partial = path + ".partial"
        await afc.set_file_contents(partial, data)
        back = hashlib.sha256(await afc.get_file_contents(partial)).hexdigest()
        if back != hashlib.sha256(data).hexdigest():
            await afc.rm(partial)
            raise DeviceError(f"{self.id}: {path} has sha256 {back} after push (storage full or failing?)")
        await afc.rename(partial, path)

    def check_runners(self, runners: set[str]) -> None:
        if "companion" in runners and not LOOP.call(self.phone.companion_installed(), f"{self.id}: app lookup"):
            raise CompanionAppError(f"{self.id}: {FIXES['AppNotInstalledError']}")

    def run(self, job: dict[str, Any], on_event: EventCallback | None = None, *,
            timeout_s: float = DEFAULT_JOB_TIMEOUT_S, runner: str = "companion") -> list[dict[str, Any]]:
        path = posixpath.join(ROOT, "runs", self.session, "jobs", f"{job['job_id']}.json")
        LOOP.call(self._write(path, json.dumps(job).encode()), f"{self.id}: job file")
        sampler = self._sampler
        return run_job(self.phone, path, job["job_id"], on_event, timeout_s,
                       on_pid=sampler.watch if sampler else _ignore, on_thermal=sampler.thermal if sampler else _ignore)

    async def _write(self, path: str, data: bytes) -> None:
        afc = await self.phone.container()
        await afc.makedirs(posixpath.dirname(path))
        await afc.set_file_contents(path, data)

    def sampler(self) -> TelemetrySampler:
        return _Tracked(self)

    # ---------------------------------------------------------------- conditions, personal data, close

    def induce(self, condition: str, value: Any = None) -> None:
        self.conditions.induce(condition, value)

    def restore(self) -> None:
        self.conditions.restore()

    def forget_personalization(self, variant: str | None = None) -> list[str]:
        """Remove the per-person data staged in the companion's container (`artifacts/*.npz`); the companion
        returns each update's delta to the harness and keeps none, so there is no delta to remove."""
        kept = (f"no personalization delta{' of ' + variant if variant else ''} is kept on {self.id}: the companion "
                "returns get_weights to the harness, which stores only its size and sha256")
        if variant is not None:
            return [kept, "per-person training data is shared by every variant: forget without --variant removes it"]
        removed = LOOP.call(self._remove_npz(), f"{self.id}: remove staged data")
        return [kept, *(f"removed {p} (a person's training or evaluation windows)" for p in removed)] if removed \
            else [kept, f"no per-person training data staged under {ROOT}/artifacts"]

    async def _remove_npz(self) -> list[str]:
        afc = await self.phone.container()
        folder = posixpath.join(ROOT, "artifacts")
        names = await afc.listdir(folder) if await afc.exists(folder) else []
        paths = [posixpath.join(folder, n) for n in names if n.endswith(".npz")]
        for path in paths:
            await afc.rm(path)
        return paths

    def reachable(self) -> bool:
        """usbmuxd still lists the phone within 10 s."""
        try:
            listed = LOOP.call(self.api.list_devices(), f"{self.id}: usbmuxd", timeout_s=10)
        except DeviceError:
            return False
        return any(d.serial.replace("-", "") == self.udid.replace("-", "") for d in listed)

    def close(self) -> None:
        """Remove this session's job files and close every connection. Never raises."""
        try:
            LOOP.call(self._close(), f"{self.id}: close", timeout_s=30)
        except DeviceError:
            pass

    async def _close(self) -> None:
        try:
            afc = await self.phone.container()
            await afc.rm(posixpath.join(ROOT, "runs", self.session), force=True)
        except Exception:  # noqa: BLE001, S110 (a lost phone keeps a stale session folder, swept by nothing worse)
            pass
        await self.phone.close()


class _Tracked(IosSampler):
    """A sampler its device knows while it samples, so the job's pid and thermal events reach it."""

    def __init__(self, device: IosDevice):
        super().__init__(device.phone, device.sample_interval_s)
        self.device = device

    def start(self) -> None:
        super().start()
        self.device._sampler = self

    def stop(self) -> list[Any]:
        if self.device._sampler is self:
            self.device._sampler = None
        return super().stop()


def _ignore(*_args: Any) -> None:
    """No sampler runs beside this job: its pid and thermal events go nowhere but the event stream."""


def _artifact_bytes(path: Path) -> tuple[bytes, str]:
    """The bytes an artifact's sha256 names (an .mlpackage directory: its stored zip) and its staged suffix."""
    if path.is_dir():
        return stored_zip(path), ".mlpackage.zip"
    suffix = path.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", path.suffix) else ""
    return path.read_bytes(), suffix


def _soc(values: dict[str, Any]) -> str:
    """`HardwarePlatform` (e.g. t8110) with its chip id, as lockdown reports them."""
    platform, chip = values.get("HardwarePlatform"), values.get("ChipID")
    text = " ".join(p for p in (str(platform) if platform else "", f"chip 0x{chip:x}" if isinstance(chip, int) else "")
                    if p)
    return text or "unknown"


_survey_cache: tuple[float, tuple[list[tuple[str, str]], list[DeviceProblem]]] | None = None


def survey_ios() -> tuple[list[tuple[str, str]], list[DeviceProblem]]:
    """(udid, connection) of every usable iPhone, and every iPhone (or missing piece) that is not, with the fix.

    usbmuxd lists USB and network devices (`USBMUXD_SOCKET_ADDRESS=host:port` reaches a lab's); with
    `HARNESS_IOS_WIFI=1` Wi-Fi devices that advertise mobdev2 are browsed for as well.
    """
    global _survey_cache
    if _survey_cache is not None and time.monotonic() - _survey_cache[0] < _SURVEY_S:
        return _survey_cache[1]
    try:
        found = LOOP.call(_probe_all(api()), "ios", timeout_s=60)
    except LibraryMissing:
        found = ([], [DeviceProblem("ios:*", "not installed", INSTALL_HINT)])
    except DeviceError as exc:
        found = ([], [DeviceProblem("ios:*", "unreachable", str(exc).removeprefix("ios: "))])
    _survey_cache = (time.monotonic(), found)
    return found


async def _probe_all(pmd: Any) -> tuple[list[tuple[str, str]], list[DeviceProblem]]:
    try:
        listed = [(d.serial, d.connection_type) for d in await pmd.list_devices()]
    except Exception as exc:  # noqa: BLE001 (no usbmuxd is one problem row)
        return [], [DeviceProblem("ios:*", "no usbmuxd", explain(exc))]
    if os.environ.get("HARNESS_IOS_WIFI") == "1":
        async for _address, lockdown in pmd.get_mobdev2_lockdowns(only_paired=True):
            if lockdown.udid and all(lockdown.udid != u for u, _ in listed):
                listed.append((lockdown.udid, "mobdev2"))
            await lockdown.close()
    ready, problems = [], []
    for udid, kind in listed:
        why = await _probe(pmd, udid)
        if why:
            problems.append(DeviceProblem(f"ios:{udid}", why[0], why[1]))
        else:
            ready.append((udid, kind))
    return ready, problems


async def _probe(pmd: Any, udid: str) -> tuple[str, str] | None:
    """(state, fix) when the phone cannot run jobs now, None when it can."""
    try:
        phone = await Phone.connect(pmd, udid)
    except Exception as exc:  # noqa: BLE001 (each phone's failure is its own row)
        fix = _why(exc, udid)
        return ("not paired" if "Trust" in fix else "not answering"), fix
    try:
        if not await phone.companion_installed():
            return "no companion", FIXES["AppNotInstalledError"]
        await phone.developer()
        return None
    except Exception as exc:  # noqa: BLE001
        fix = _why(exc, udid)
        state = "developer mode off" if "Developer Mode" in fix else "no tunnel" if "tunnel" in fix else "not ready"
        return state, fix
    finally:
        await phone.close()



def _why(exc: BaseException, udid: str) -> str:
    text = str(exc) if isinstance(exc, DeviceError) else explain(exc)
    return text.removeprefix(f"ios:{udid}: ")
