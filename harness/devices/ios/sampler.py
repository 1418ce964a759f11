"""Telemetry beside an iOS job, sampled on the host's side of one connection (no app of ours runs between
jobs), stamped on the phone's clock.

- IOPMPowerSource (`DiagnosticsService.get_battery()`) polled every `poll_s`; the gauge refreshes far more
  slowly (its `UpdateTime` moves every few seconds), so a reading is kept only when it refreshed: the
  samples' spacing is the gauge's real rate and nothing claims more resolution than it has. The observed
  refresh interval is recorded in `evidence`.
- The companion's `ProcessInfo.thermalState` (its `thermal` events, handed in by the device while a job
  runs) as `thermal/status` on the Android scale the policies use (nominal 0, fair 1, serious 3, critical 4).
- DVT `EnergyMonitor` while the job's process runs: Xcode's Energy Impact, a unitless relative score, stored
  under its own source `dvt_energy` in unit `score`, never as joules and never an energy source.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Mapping
from typing import Any

from harness.devices.base import TelemetrySampler
from harness.devices.ios.phone import Phone
from harness.devices.ios.transport import LOOP
from harness.events import Sample
from harness.telemetry.iopm import SOURCE, parse_power_source, power_source_samples

__all__ = ["ENERGY_SCORE", "THERMAL_LEVELS", "IosSampler"]

ENERGY_SCORE = "dvt_energy"
THERMAL_LEVELS = {"nominal": 0, "fair": 1, "serious": 3, "critical": 4}  # docs/policies.md


class IosSampler(TelemetrySampler):
    """One sampler run on one phone."""

    def __init__(self, phone: Phone, poll_s: float = 1.0):
        self.phone, self.poll_s = phone, poll_s
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._task: asyncio.Future[None] | None = None
        self._energy: asyncio.Future[None] | None = None
        self._offset_ns = 0
        self._offset_note = ""
        self._refreshes: list[int] = []  # UpdateTime of each kept reading (unix s)
        self._readings = 0
        self._last_update: int | None = None
        self._energy_note = ""

    @property
    def evidence(self) -> Mapping[str, str]:  # type: ignore[override]
        gaps = [b - a for a, b in zip(self._refreshes, self._refreshes[1:]) if b > a]
        refresh = (f"refreshed every {statistics.median(gaps):g} s (median of {len(gaps)} refreshes, UpdateTime)"
                   if gaps else "no refresh observed during the run (UpdateTime did not move)")
        return {SOURCE: (f"IOPMPowerSource polled every {self.poll_s:g} s, {self._readings} readings, "
                         f"{len(self._refreshes)} kept; {refresh}; InstantAmperage mA signed (negative = "
                         "discharging, >32767 read as 16-bit two's complement), Voltage mV, Temperature 1/100 C"),
                "clock": self._offset_note, **({ENERGY_SCORE: self._energy_note} if self._energy_note else {})}

    def start(self) -> None:
        self._offset_ns, half_rtt = LOOP.call(self.phone.clock_offset(), f"ios:{self.phone.udid}: clock")
        self._offset_note = f"samples on the phone's mach clock (offset read over DVT, +-{half_rtt / 1e6:.1f} ms)"
        LOOP.call(self._read(), f"ios:{self.phone.udid}: battery")
        self._task = LOOP.submit(self._poll())

    def stop(self) -> list[Sample]:
        if self._energy is not None and self._energy.done() and not self._energy.cancelled() \
                and self._energy.exception() is not None:
            self._energy_note = f"DVT EnergyMonitor failed: {self._energy.exception()}"
        for task in (self._energy, self._task):
            if task is not None:
                LOOP.loop().call_soon_threadsafe(task.cancel)
        self._task = self._energy = None
        if self._readings:
            LOOP.call(self._read(final=True), f"ios:{self.phone.udid}: battery")
        with self._lock:
            out, self._samples = self._samples, []
        return sorted(out, key=lambda s: s.t_ns)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self._read()

    async def _read(self, final: bool = False) -> None:
        raw, host_ns = await self.phone.battery()
        reading = parse_power_source(raw)
        self._readings += 1
        refreshed = reading.update_time is None or reading.update_time != self._last_update
        if not (refreshed or final):
            return
        if refreshed and reading.update_time is not None:
            self._refreshes.append(reading.update_time)
        self._last_update = reading.update_time
        with self._lock:
            self._samples.extend(power_source_samples(reading, host_ns + self._offset_ns))

    def thermal(self, t_ns: int, state: str) -> None:
        """The companion's `thermal` event (device clock) as a `thermal/status` sample."""
        level = THERMAL_LEVELS.get(state.lower())
        if level is not None:
            with self._lock:
                self._samples.append(Sample(t_ns, "thermal", "status", float(level), "level"))

    def watch(self, pid: int) -> None:
        """Sample the job's process with DVT EnergyMonitor until `stop()`."""
        self._energy = LOOP.submit(self._energy_scores(pid))

    async def _energy_scores(self, pid: int) -> None:
        async with self.phone.api.EnergyMonitor(await self.phone.open_dvt(), [pid]) as monitor:
            async for reply in monitor:
                t_ns = time.monotonic_ns() + self._offset_ns
                scores = _scores(reply, pid)
                with self._lock:
                    self._samples.extend(Sample(t_ns, ENERGY_SCORE, name, value, "score")
                                         for name, value in scores.items())
                await asyncio.sleep(self.poll_s)


def _scores(reply: Any, pid: int) -> dict[str, float]:
    """`energy.*` numbers of one EnergyMonitor reply `{pid: {"energy.cost": 12.5, ...}}` (pid as int or str)."""
    entry = reply.get(pid, reply.get(str(pid))) if isinstance(reply, dict) else None
    if not isinstance(entry, dict):
        return {}
    return {k: float(v) for k, v in entry.items()
            if k.startswith("energy.") and isinstance(v, int | float) and not isinstance(v, bool)}
