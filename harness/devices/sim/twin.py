"""A phone twin's state over time: battery, node temperatures, thermal status, what is drawing power.

The twin lives on the host's monotonic clock (the clock runner events are stamped with). It advances in
steps of `period_s`; the power of each step is the floor of the phone's state (asleep, awake for a job,
screen on) plus the active energy of the invokes and train steps that fell inside it (`deposit`), spread
over the host's time of each invoke. Each step's readings go to every open recorder (a sampler).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from harness.devices.sim.physics import BatteryState, ThermalNetwork, clock_fraction, ocv_v, thermal_status
from harness.devices.sim.profiles import Profile
from harness.events import Sample

__all__ = ["PhoneTwin"]

Recorder = Callable[[list[Sample]], None]


class PhoneTwin:
    """One modelled phone. Thread-safe: runs stream events from one thread, samplers read from another."""

    def __init__(self, profile: Profile, t_ns: int, period_s: float = 0.005, slow_every: int = 20):
        self.profile, self.period_ns, self.slow_every = profile, int(period_s * 1e9), slow_every
        self._steps = 0
        self.battery = BatteryState(profile.battery, profile.initial_level_pct / 100)
        self.thermal = ThermalNetwork(profile.thermal, profile.ambient_c)
        # start where the phone idles: asleep long enough to sit at its idle steady state
        self.thermal.temps = self.thermal.steady_state(self._node_power(profile.suspend_w, 0.0, 0.0))
        self.t_ns = t_ns
        self.awake = self.screen_on = self.idle = False
        self.status_override: int | None = None
        self._deposits: list[tuple[int, int, float]] = []  # (start_ns, end_ns, W above the floor)
        self._recorders: list[Recorder] = []
        self._lock = threading.RLock()
        self.last_power_w = profile.suspend_w

    # what the phone reports
    @property
    def computed_status(self) -> int:
        return thermal_status(self.profile.thermal, self.thermal.temp(self.profile.thermal.skin_node))

    @property
    def status(self) -> int:
        """The thermal status the OS reports (an induced override wins, as `cmd thermalservice` does)."""
        return self.computed_status if self.status_override is None else self.status_override

    @property
    def clock(self) -> float:
        return clock_fraction(self.profile.thermal, self.status)

    @property
    def level_pct(self) -> float:
        return self.battery.soc * 100

    def floor_w(self) -> float:
        p = self.profile
        return p.suspend_w + (p.awake_w if self.awake else 0.0) + (p.screen_w if self.screen_on else 0.0)

    # changing it
    def deposit(self, start_ns: int, end_ns: int, joules: float) -> None:
        """Active energy drawn between two host stamps (one invoke or train step)."""
        with self._lock:
            if end_ns > start_ns and joules > 0:
                self._deposits.append((start_ns, end_ns, joules / ((end_ns - start_ns) / 1e9)))

    def record(self, recorder: Recorder) -> None:
        with self._lock:
            self._recorders.append(recorder)

    def unrecord(self, recorder: Recorder) -> None:
        with self._lock:
            self._recorders.remove(recorder)

    def advance_to(self, t_ns: int, *, exact: bool = False) -> None:
        """Step the physics up to `t_ns` (whole periods; with `exact` also the last partial one)."""
        with self._lock:
            if not self._recorders and not self._deposits and t_ns - self.t_ns > self.period_ns:
                # nobody samples and nothing runs: constant power, one exact step (as long as the status holds)
                self._step(t_ns - (t_ns - self.t_ns) % self.period_ns)
            while self.t_ns + self.period_ns <= t_ns:
                self._step(self.t_ns + self.period_ns)
            if exact and t_ns > self.t_ns:
                self._step(t_ns)

    def readings(self) -> list[Sample]:
        """Every channel now, labelled with the profile (`model:<profile>`, `model:<profile>/<family>`)."""
        label, t, p = self.profile.label, self.t_ns, self.profile
        spec = p.thermal
        temps = [Sample(t, f"{label}/thermal", node, self.thermal.temp(node), "C") for node in spec.nodes
                 if node != "battery"]
        return [
            Sample(t, label, "power", self.last_power_w, "W"),
            Sample(t, f"{label}/battery", "level", self.level_pct, "%"),
            Sample(t, f"{label}/battery", "temp", self.thermal.temp("battery") if "battery" in spec.nodes
                   else self.thermal.temp(spec.skin_node), "C"),
            Sample(t, f"{label}/battery", "voltage", float(ocv_v(p.battery, self.battery.soc)), "V"),
            Sample(t, f"{label}/battery", "charging", float(self.battery.plugged and self.battery.soc < 1.0), "bool"),
            *temps,
            Sample(t, f"{label}/thermal", "status", float(self.status), "level"),
            Sample(t, f"{label}/cpu", "clock", self.clock * 100, "%"),
        ]

    def _step(self, end_ns: int) -> None:
        start_ns, dt = self.t_ns, (end_ns - self.t_ns) / 1e9
        active_j = 0.0
        keep = []
        for s, e, w in self._deposits:
            active_j += max(0, min(e, end_ns) - max(s, start_ns)) / 1e9 * w
            if e > end_ns:
                keep.append((s, e, w))
        self._deposits = keep
        floor = self.floor_w()
        load = floor + active_j / dt
        _, cell_heat = self.battery.step(load, dt)
        screen = self.profile.screen_w if self.screen_on else 0.0
        self.thermal.step(self._node_power(load - screen, screen, cell_heat), dt)
        self.t_ns, self.last_power_w = end_ns, load
        self._steps += 1
        if self._recorders:
            # power at every step (energy resolves for short jobs), the slow channels every `slow_every`
            samples = self.readings() if self._steps % self.slow_every == 0 else self.readings()[:1]
            for recorder in self._recorders:
                recorder(samples)

    def _node_power(self, soc_w: float, skin_w: float, battery_w: float) -> np.ndarray:
        spec = self.profile.thermal
        power = np.zeros(len(spec.nodes))
        power[spec.index("soc") if "soc" in spec.nodes else 0] += soc_w
        power[spec.index(spec.skin_node)] += skin_w
        power[spec.index("battery") if "battery" in spec.nodes else spec.index(spec.skin_node)] += battery_w
        return power
