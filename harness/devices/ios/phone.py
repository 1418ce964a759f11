"""One iPhone's connections on the shared loop: lockdown, the developer-service provider (tunnel or
lockdown), one DVT connection for the device's life, and the app container over house_arrest AFC.

Developer services: iOS < 17 over lockdown (developer disk image mounted); iOS 17.4+ through the in-process
userspace tunnel (one per process); iOS 17.0-17.3, or `PYMOBILEDEVICE3_DEFAULT_FALLBACK=tunneld`, through a
running `pymobiledevice3 remote tunneld`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from harness.devices.ios.transport import FIXES, Api, explain
from harness.errors import CompanionAppError, DeviceError

__all__ = ["BUNDLE_ID", "Phone", "ios_version"]

BUNDLE_ID = "org.phonebench.runner"  # the companion app (device_apps/ios)


def ios_version(text: str) -> tuple[int, ...]:
    """`17.4.1` -> (17, 4, 1); unparsable parts count as 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in (text or "0").split("."))


class Phone:
    """The open connections to one iPhone (`udid`); every coroutine here runs on `LOOP`."""

    def __init__(self, api: Api, udid: str, lockdown: Any):
        self.api, self.udid, self.lockdown = api, udid, lockdown
        self.values: dict[str, Any] = dict(getattr(lockdown, "all_values", {}) or {})
        self._developer: Any = None
        self._tunnel: Any = None
        self.dvt: Any = None
        self._afc: Any = None
        self._diagnostics: Any = None

    @classmethod
    async def connect(cls, api: Api, udid: str) -> Phone:
        """Through usbmuxd; with `HARNESS_IOS_WIFI=1` a phone usbmuxd does not list is looked for over mobdev2."""
        try:
            lockdown = await api.create_using_usbmux(serial=udid, autopair=False)
        except Exception:
            if os.environ.get("HARNESS_IOS_WIFI") != "1":
                raise
            found = await anext(aiter(api.get_mobdev2_lockdowns(udid=udid, only_paired=True)), None)
            if found is None:
                raise
            lockdown = found[1]  # (address, TcpLockdownClient)
        if not lockdown.paired:
            await lockdown.close()
            raise DeviceError(f"ios:{udid}: {FIXES['NotPairedError']}")
        return cls(api, udid, lockdown)

    @property
    def version(self) -> str:
        return str(self.values.get("ProductVersion") or getattr(self.lockdown, "product_version", "") or "")

    async def developer(self) -> Any:
        """The provider developer services start from (opened once)."""
        if self._developer is not None:
            return self._developer
        if self.lockdown.has_developer_mode and not await self.lockdown.get_developer_mode_status():
            raise DeviceError(f"ios:{self.udid}: {FIXES['DeveloperModeIsNotEnabledError']}")
        version = ios_version(self.version)
        if version < (17,):
            self._developer = self.lockdown
        elif version < (17, 4) or os.environ.get("PYMOBILEDEVICE3_DEFAULT_FALLBACK", "").lower() == "tunneld":
            rsd = await self.api.get_tunneld_device_by_udid(self.udid)
            if rsd is None:
                raise DeviceError(f"ios:{self.udid}: no tunneld tunnel; {FIXES['TunneldConnectionError']}")
            self._developer = rsd
        else:
            tunnel = self.api.UserspaceRsdTunnel(serial=self.udid, autopair=False)
            self._developer = await tunnel.aopen()
            self._tunnel = tunnel
        return self._developer

    async def open_dvt(self) -> Any:
        """The device's DVT connection (instruments), opened once and kept until `close`."""
        if self.dvt is None:
            dvt = self.api.DvtProvider(await self.developer())
            await dvt.__aenter__()
            self.dvt = dvt
        return self.dvt

    async def container(self) -> Any:
        """AFC rooted at the companion's container (house_arrest VendContainer), opened once."""
        if self._afc is None:
            try:
                self._afc = await self.api.HouseArrestService.create(self.lockdown, BUNDLE_ID)
            except Exception as exc:
                if any(c.__name__ == "AppNotInstalledError" for c in type(exc).__mro__):
                    raise CompanionAppError(f"ios:{self.udid}: {explain(exc)}") from exc
                raise
        return self._afc

    async def companion_installed(self) -> bool:
        async with self.api.InstallationProxyService(self.lockdown) as proxy:
            return BUNDLE_ID in (await proxy.get_apps(bundle_identifiers=[BUNDLE_ID]) or {})

    async def battery(self) -> tuple[dict[str, Any], int]:
        """IOPMPowerSource as `get_battery()` returns it, and the host monotonic ns halfway through the call
        (one diagnostics_relay connection, opened once, serves every reading)."""
        if self._diagnostics is None:
            diagnostics = self.api.DiagnosticsService(self.lockdown)
            await diagnostics.__aenter__()
            self._diagnostics = diagnostics
        before = time.monotonic_ns()
        raw = await self._diagnostics.get_battery()
        after = time.monotonic_ns()
        if not isinstance(raw, dict):
            raise DeviceError(f"ios:{self.udid}: the phone has no IOPMPowerSource entry")
        return raw, (before + after) // 2

    async def clock_offset(self) -> tuple[int, int]:
        """(device mach ns - host monotonic ns, half the round trip): the companion stamps events with
        mach_absolute_time in ns (CLOCK_UPTIME_RAW), so samples taken here line up with them."""
        async with self.api.DeviceInfo(await self.open_dvt()) as info:
            before = time.monotonic_ns()
            mach = await info.mach_time_info()
            after = time.monotonic_ns()
        ticks, numer, denom = int(mach[0]), int(mach[1]), int(mach[2])
        return ticks * numer // denom - (before + after) // 2, (after - before) // 2

    async def close(self) -> None:
        """Close what is open, newest first; a phone already gone is not an error here."""
        for closing in (self._afc and self._afc.close(), self._diagnostics and self._diagnostics.close(),
                        self.dvt and self.dvt.__aexit__(None, None, None),
                        self._tunnel and self._tunnel.aclose(), self.lockdown.close()):
            if closing:
                try:
                    await closing
                except Exception:  # noqa: BLE001, S110 (closing a lost phone's connections cannot fail the run)
                    pass
        self._afc = self._diagnostics = self.dvt = self._tunnel = self._developer = None

