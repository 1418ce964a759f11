"""The pymobiledevice3 boundary: the names this backend uses, one event loop for them, errors in one line.

pymobiledevice3 (11.45.0, the optional extra `ios`) is asyncio: its connection helpers and service
methods are coroutines and its services async context managers. Every iPhone of this process shares one
loop in a daemon thread (`LOOP`): the in-process userspace tunnel of iOS 17.4+ is one per process anyway.
The library is imported only when an `ios:` id is used or discovery runs (`api()`); tests hand in an `Api`
of fakes with the same names and return shapes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from harness.errors import DeviceError, DeviceTimeout, UserError

__all__ = ["PMD_VERSION", "INSTALL_HINT", "FIXES", "Api", "LibraryMissing", "Loop", "LOOP", "api", "check_udid",
           "explain"]

PMD_VERSION = "11.45.0"
INSTALL_HINT = f"iOS devices need pymobiledevice3 {PMD_VERSION}: pip install '.[ios]'"
_UDID = re.compile(r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}")
T = TypeVar("T")

_PAIR = ("not paired with this computer: unlock the iPhone, plug it in and tap Trust "
         "(or `python -m pymobiledevice3 lockdown pair`)")
_TUNNEL = ("developer services need a tunnel: iOS 17.4+ opens one in process (one iPhone per harness process); "
           "for iOS 17.0-17.3 or a shared tunnel run `sudo python3 -m pymobiledevice3 remote tunneld` and set "
           "PYMOBILEDEVICE3_DEFAULT_FALLBACK=tunneld")
# pymobiledevice3 exception class name -> what to do about it (matched along the exception's MRO)
FIXES = {
    "ConnectionFailedToUsbmuxdError": "no usbmuxd on this machine: install and start it (`sudo apt install usbmuxd`, "
                                      "USB only; macOS has it) or reach a lab's usbmuxd with "
                                      "USBMUXD_SOCKET_ADDRESS=host:port",
    "NotPairedError": _PAIR, "PairingError": _PAIR, "NotTrustedError": _PAIR, "FatalPairingError": _PAIR,
    "PasscodeRequiredError": "the iPhone is locked: unlock it",
    "DeveloperModeIsNotEnabledError": "Developer Mode is off: Settings > Privacy & Security > Developer Mode, then "
                                      "restart the iPhone (or `python -m pymobiledevice3 amfi enable-developer-mode`)",
    "DeveloperModeError": "Developer Mode could not be read or enabled: enable it in Settings > Privacy & Security",
    "DeveloperDiskImageNotFoundError": "no developer disk image is mounted: `python -m pymobiledevice3 mounter "
                                       "auto-mount` (downloads it once per iOS build; a lab host caches it)",
    "NotMountedError": "no developer disk image is mounted: `python -m pymobiledevice3 mounter auto-mount`",
    "InvalidServiceError": "developer services are not available: enable Developer Mode and mount the developer "
                           "disk image (`python -m pymobiledevice3 mounter auto-mount`)",
    "UserspaceTunnelUnavailableError": _TUNNEL,
    "TunneldConnectionError": _TUNNEL,
    "AppNotInstalledError": "the companion app (org.phonebench.runner) is not installed: build, sign and install it "
                            "(device_apps/ios/README.md)",
    "DeviceNotFoundError": "the iPhone is not connected (unplugged, or off the network)",
    "NoDeviceConnectedError": "the iPhone is not connected (unplugged, or off the network)",
    "ConnectionTerminatedError": "the connection to the iPhone dropped (cable, network or a reboot)",
    "MuxException": "usbmuxd refused the connection: replug the iPhone",
}


class LibraryMissing(DeviceError):
    """pymobiledevice3 is not installed (the `ios` extra)."""


def explain(exc: BaseException) -> str:
    """One line for a pymobiledevice3 failure: the fix when the exception is a known kind, else its text."""
    for cls in type(exc).__mro__:
        if cls.__name__ in FIXES:
            return FIXES[cls.__name__]
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclasses.dataclass(frozen=True)
class Api:
    """The pymobiledevice3 11.45.0 functions and classes the backend calls, by their library names."""

    list_devices: Callable[..., Awaitable[list[Any]]]  # usbmux.list_devices() -> [MuxDevice(serial, connection_type)]
    create_using_usbmux: Callable[..., Awaitable[Any]]  # lockdown.create_using_usbmux(serial=, autopair=, ...)
    get_mobdev2_lockdowns: Callable[..., Any]  # lockdown.get_mobdev2_lockdowns(...) -> async iter (ip, lockdown)
    get_tunneld_device_by_udid: Callable[..., Awaitable[Any]]  # tunneld.api
    UserspaceRsdTunnel: type  # remote.userspace_tunnel: aopen() -> RSD, aclose()
    DiagnosticsService: type  # services.diagnostics: get_battery()
    InstallationProxyService: type  # services.installation_proxy: get_apps(bundle_identifiers=...)
    HouseArrestService: type  # services.house_arrest: await create(lockdown, bundle_id) -> AFC
    DvtProvider: type  # services.dvt.instruments.dvt_provider
    ProcessControl: type  # launch(bundle_id, arguments=, environment=, kill_existing=), kill(pid), async iter
    DeviceInfo: type  # mach_time_info(), hardware_information(), is_running_pid(pid)
    ConditionInducer: type  # list(), set(profile), clear()
    EnergyMonitor: type  # EnergyMonitor(dvt, [pid]): async iter of {pid: {"energy.cost": ...}}


def _load() -> Api:
    try:
        from pymobiledevice3 import lockdown, usbmux
        from pymobiledevice3.remote.userspace_tunnel import UserspaceRsdTunnel
        from pymobiledevice3.services.diagnostics import DiagnosticsService
        from pymobiledevice3.services.dvt.instruments.condition_inducer import ConditionInducer
        from pymobiledevice3.services.dvt.instruments.device_info import DeviceInfo
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.energy_monitor import EnergyMonitor
        from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
        from pymobiledevice3.services.house_arrest import HouseArrestService
        from pymobiledevice3.services.installation_proxy import InstallationProxyService
        from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid
    except ImportError as exc:
        raise LibraryMissing(INSTALL_HINT) from exc
    return Api(usbmux.list_devices, lockdown.create_using_usbmux, lockdown.get_mobdev2_lockdowns,
               get_tunneld_device_by_udid, UserspaceRsdTunnel, DiagnosticsService, InstallationProxyService,
               HouseArrestService, DvtProvider, ProcessControl, DeviceInfo, ConditionInducer, EnergyMonitor)


_override: Api | None = None  # tests put their fakes here
_loaded: Api | None = None


def api() -> Api:
    """The pymobiledevice3 names (imported on first use); LibraryMissing with the install line without it."""
    global _loaded
    if _override is not None:
        return _override
    if _loaded is None:
        _loaded = _load()
    return _loaded


def check_udid(udid: str) -> str:
    """A UDID as usbmuxd lists it (`00008110-001A2B3C4D5E601E` or 40 hex digits); UserError otherwise."""
    if not _UDID.fullmatch(udid):
        raise UserError(f"bad iOS device id {('ios:' + udid)!r}: expected ios:<udid> (see `harness devices`)")
    return udid


class Loop:
    """An asyncio loop in a daemon thread; `call` runs a coroutine on it from any other thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="ios-asyncio", daemon=True).start()
            return self._loop

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop())  # type: ignore[arg-type]

    def call(self, coro: Awaitable[T], what: str, timeout_s: float = 60.0) -> T:
        """The coroutine's result; DeviceTimeout after `timeout_s`, a library failure as one DeviceError
        line `<what>: <fix>` (harness errors pass through)."""
        future = self.submit(coro)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DeviceTimeout(f"{what}: no answer within {timeout_s:g} s") from None
        except (DeviceError, UserError):
            raise
        except Exception as exc:  # noqa: BLE001 (every library failure becomes one line with its fix)
            raise DeviceError(f"{what}: {explain(exc)}") from exc


LOOP = Loop()
