"""Cool down before each job: wait until thermal status is nominal and the temperature is back near
where the run started (or a timeout), and record how long that took.

Readings come from `Device.snapshot()`: `thermal/status` (Android levels, 0 = none) and the battery
temperature `battery/temp`; devices without a battery (the host) use their hottest thermal zone. The first
reading may be the device's latest (the previous job's last samples, the run's reference reading): a device
already cool then starts its job without another round trip.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from harness.devices.base import Device
from harness.events import Sample, family

__all__ = ["Reading", "CooldownRecord", "read", "cool_down"]


@dataclasses.dataclass(frozen=True)
class Reading:
    status: int | None  # thermal status level, None if the device reports none
    temp_c: float | None  # battery temperature, else hottest thermal zone
    temp_source: str  # "battery/temp", "thermal/<zone>" or ""


@dataclasses.dataclass(frozen=True)
class CooldownRecord:
    """How the wait before one job went; stored as `cooldown_*` columns of the job's result."""

    waited_s: float
    reached: bool  # False: timed out, or nothing to wait on (see reason)
    reason: str
    start_temp_c: float | None  # the run's reference temperature
    end_temp_c: float | None
    end_status: int | None
    temp_source: str
    polls: int  # snapshots taken: 0 when the latest readings already showed the device cool

    def to_columns(self, prefix: str = "cooldown_") -> dict[str, object]:
        return {f"{prefix}{k}": v for k, v in dataclasses.asdict(self).items()}


def read(samples: Sequence[Sample]) -> Reading:
    """Latest thermal status and temperature in one snapshot."""
    latest: dict[tuple[str, str], Sample] = {}
    for s in samples:
        key = (family(s.source), s.channel)  # a twin's model:<profile>/thermal reads as thermal
        if key not in latest or s.t_ns >= latest[key].t_ns:
            latest[key] = s
    status = latest.get(("thermal", "status"))
    battery = latest.get(("battery", "temp"))
    if battery is not None:
        return Reading(int(status.value) if status else None, battery.value, f"{battery.source}/temp")
    zones = [s for (src, _), s in latest.items() if src == "thermal" and s.unit == "C"]
    hottest = max(zones, key=lambda s: s.value, default=None)
    return Reading(int(status.value) if status else None, hottest.value if hottest else None,
                   f"{hottest.source}/{hottest.channel}" if hottest else "")


def cool_down(device: Device, reference_c: float | None, *, margin_c: float = 1.0, max_status: int = 0,
              timeout_s: float = 300.0, poll_s: float = 5.0, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep, latest: Sequence[Sample] = ()) -> CooldownRecord:
    """Poll `device.snapshot()` until status <= max_status and temp <= reference + margin, or timeout;
    `latest` (readings the device gave a moment ago) serves as the first poll when it holds either."""
    start = clock()
    polls = 0
    now: Reading | None = read(latest)
    while True:
        if now is None or (now.status is None and now.temp_c is None):
            now = read(device.snapshot())
            polls += 1
        waited = clock() - start
        if now.status is None and now.temp_c is None:
            return CooldownRecord(waited, False, "device reports no thermal status and no temperature",
                                  reference_c, None, None, "", polls)
        status_ok = now.status is None or now.status <= max_status
        temp_ok = reference_c is None or now.temp_c is None or now.temp_c <= reference_c + margin_c
        if status_ok and temp_ok:
            return CooldownRecord(waited, True, "", reference_c, now.temp_c, now.status, now.temp_source, polls)
        if waited >= timeout_s:
            why = [f"thermal status {now.status} > {max_status}"] if not status_ok else []
            if not temp_ok:
                why.append(f"{now.temp_source} {now.temp_c:.1f} C > {reference_c:.1f} + {margin_c:.1f} C")
            return CooldownRecord(waited, False, f"timed out after {timeout_s:.0f} s: {'; '.join(why)}",
                                  reference_c, now.temp_c, now.status, now.temp_source, polls)
        sleep(min(poll_s, max(0.0, timeout_s - waited)))
        now = None  # stale after the wait
