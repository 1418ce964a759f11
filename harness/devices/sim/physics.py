"""The phone around a job, as physics: battery, a lumped thermal RC network, thermal status and throttling.

Everything here is pure and exact for piecewise-constant power, so a step of one second and a step of one
hour give the same answer (tests check it against the analytic solutions):

- **Battery**: charge Q (Ah) with an open-circuit voltage OCV(state of charge) (piecewise linear) and an
  internal resistance R. Drawing power P at the terminals takes the current I with P = I·(OCV − I·R), so
  I = (OCV − √(OCV² − 4RP)) / 2R; the state of charge falls by I·dt / Q. Under constant power and a flat
  OCV it falls linearly. Charging adds `charge_w` × efficiency at the cell (tapered above 80 %).
- **Thermal network**: nodes with heat capacities C (J/K), conductances G (W/K) between nodes and to
  ambient; C·dT/dt = P − G_total·T + G_amb·T_amb. For constant P the solution is
  T(t) = T_ss + exp(A t)(T(0) − T_ss) with A = −C⁻¹G and T_ss = G⁻¹(P + G_amb·T_amb): one node is the
  exponential approach to T_amb + P/G_amb with time constant C/G_amb.
- **Thermal status** (Android levels 0 none … 6 shutdown) from the skin node's temperature and the
  profile's thresholds; **throttling**: the clock fraction each status allows (1 until the profile's onset).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["MAC_FLOOR_PJ", "BatterySpec", "ThermalSpec", "BatteryState", "ThermalNetwork", "thermal_status",
           "clock_fraction", "battery_current_a", "ocv_v"]


@dataclasses.dataclass(frozen=True)
class BatterySpec:
    capacity_mah: float
    ocv: tuple[tuple[float, float], ...]  # (state of charge 0..1, open-circuit volts), increasing SoC
    internal_resistance_ohm: float
    charge_w: float = 10.0  # charger power while plugged (at the cell: × charge_efficiency)
    charge_efficiency: float = 0.9  # the rest heats the battery

    def __post_init__(self):
        socs = [s for s, _ in self.ocv]
        if self.capacity_mah <= 0 or len(socs) < 2 or socs != sorted(socs) or socs[0] > 0 or socs[-1] < 1:
            raise ValueError(f"battery: capacity_mah must be > 0 and ocv must cover 0..1 in order, got "
                             f"{self.capacity_mah} and {self.ocv}")

    @property
    def capacity_ah(self) -> float:
        return self.capacity_mah / 1000

    @property
    def nominal_wh(self) -> float:
        """Energy from full to empty at the OCV (no resistive loss): ∫ OCV dQ."""
        socs = np.linspace(0, 1, 201)
        return float(np.trapezoid(ocv_v(self, socs), socs) * self.capacity_ah)


def ocv_v(spec: BatterySpec, soc: float | np.ndarray) -> float | np.ndarray:
    s, v = zip(*spec.ocv)
    return np.interp(soc, s, v)


def battery_current_a(spec: BatterySpec, soc: float, power_w: float) -> float:
    """Cell current (A, positive = discharging) that delivers `power_w` at the terminals."""
    v, r = float(ocv_v(spec, soc)), spec.internal_resistance_ohm
    if power_w <= 0 or r <= 0:
        return power_w / v
    disc = v * v - 4 * r * power_w
    if disc < 0:  # more than the cell can deliver: it browns out at the maximum power point
        return v / (2 * r)
    return (v - math.sqrt(disc)) / (2 * r)


@dataclasses.dataclass
class BatteryState:
    spec: BatterySpec
    soc: float  # 0..1
    plugged: bool = False

    def step(self, load_w: float, dt_s: float, max_substep_s: float = 60.0) -> tuple[float, float]:
        """Draw `load_w` for `dt_s` (charging instead while plugged); (mean cell current A, heat W in the cell).

        Substeps of at most `max_substep_s` follow the OCV curve; exact for a flat OCV.
        """
        if dt_s <= 0:
            return 0.0, 0.0
        n = max(1, math.ceil(dt_s / max_substep_s))
        h = dt_s / n
        charge_ah = heat_j = 0.0
        for _ in range(n):
            if self.plugged and self.soc < 1.0:
                # the charger carries the load and charges the cell with what is left (taper above 80 %)
                taper = 1.0 if self.soc < 0.8 else max(0.1, (1.0 - self.soc) / 0.2)
                into_w = self.spec.charge_w * self.spec.charge_efficiency * taper
                current = -into_w / float(ocv_v(self.spec, self.soc))
                heat_j += self.spec.charge_w * taper * (1 - self.spec.charge_efficiency) * h
            elif self.plugged:
                current = 0.0
            else:
                current = battery_current_a(self.spec, self.soc, load_w)
                heat_j += current * current * self.spec.internal_resistance_ohm * h
            self.soc = min(1.0, max(0.0, self.soc - current * h / 3600 / self.spec.capacity_ah))
            charge_ah += current * h / 3600
        return charge_ah * 3600 / dt_s, heat_j / dt_s


@dataclasses.dataclass(frozen=True)
class ThermalSpec:
    nodes: tuple[str, ...]  # e.g. ("soc", "battery", "skin")
    heat_capacity_j_per_k: tuple[float, ...]
    links: tuple[tuple[str, str, float], ...]  # (node, node, conductance W/K)
    to_ambient: Mapping[str, float]  # node -> conductance to ambient (W/K)
    skin_node: str = "skin"
    status_thresholds_c: tuple[float, ...] = (39.0, 43.0, 45.0, 47.0, 52.0, 55.0)  # statuses 1..6 on the skin
    clock_by_status: tuple[float, ...] = (1.0, 1.0, 0.8, 0.6, 0.45, 0.3, 0.3)  # clock fraction, statuses 0..6

    def __post_init__(self):
        if len(self.heat_capacity_j_per_k) != len(self.nodes) or min(self.heat_capacity_j_per_k) <= 0:
            raise ValueError(f"thermal: one heat capacity > 0 per node {self.nodes}, got {self.heat_capacity_j_per_k}")
        if len(self.status_thresholds_c) != 6 or list(self.status_thresholds_c) != sorted(self.status_thresholds_c):
            raise ValueError(f"thermal: six increasing status thresholds, got {self.status_thresholds_c}")
        if len(self.clock_by_status) != 7:
            raise ValueError(f"thermal: seven clock fractions (statuses 0..6), got {self.clock_by_status}")
        if not self.to_ambient or any(g <= 0 for g in self.to_ambient.values()):
            raise ValueError("thermal: at least one node needs a conductance > 0 to ambient")

    def index(self, node: str) -> int:
        return self.nodes.index(node)

    @property
    def throttle_onset_c(self) -> float:
        """Skin temperature from which the clock is lowered (first status with a fraction below 1)."""
        first = next((s for s, f in enumerate(self.clock_by_status) if f < 1.0), None)
        return math.inf if first is None else (-math.inf if first == 0 else self.status_thresholds_c[first - 1])


def thermal_status(spec: ThermalSpec, skin_c: float) -> int:
    """Android thermal status 0..6 for a skin temperature."""
    return int(sum(skin_c >= t for t in spec.status_thresholds_c))


def clock_fraction(spec: ThermalSpec, status: int) -> float:
    return spec.clock_by_status[max(0, min(6, status))]


class ThermalNetwork:
    """Node temperatures (°C) of a `ThermalSpec`, advanced exactly under piecewise-constant power."""

    def __init__(self, spec: ThermalSpec, ambient_c: float, temps_c: Sequence[float] | None = None):
        self.spec, self.ambient_c = spec, ambient_c
        n = len(spec.nodes)
        g = np.zeros((n, n))
        for a, b, k in spec.links:
            i, j = spec.index(a), spec.index(b)
            g[i, j] -= k
            g[j, i] -= k
            g[i, i] += k
            g[j, j] += k
        self._g_amb = np.zeros(n)
        for node, k in spec.to_ambient.items():
            self._g_amb[spec.index(node)] = k
        self._g = g + np.diag(self._g_amb)
        c = np.array(spec.heat_capacity_j_per_k, float)
        # A = -C^-1 G is similar to the symmetric -C^-1/2 G C^-1/2: real negative eigenvalues
        s = 1 / np.sqrt(c)
        lam, q = np.linalg.eigh(-(s[:, None] * self._g * s[None, :]))
        self._lam, self._v, self._vinv = lam, s[:, None] * q, (q.T * np.sqrt(c)[None, :])
        self.temps = np.array(temps_c if temps_c is not None else [ambient_c] * n, float)

    @property
    def time_constants_s(self) -> tuple[float, ...]:
        return tuple(float(-1 / x) for x in sorted(self._lam))

    def steady_state(self, power_w: Sequence[float] | np.ndarray) -> np.ndarray:
        return np.linalg.solve(self._g, np.asarray(power_w, float) + self._g_amb * self.ambient_c)

    def step(self, power_w: Sequence[float] | np.ndarray, dt_s: float) -> np.ndarray:
        """Hold `power_w` (W per node) for `dt_s`; the new temperatures."""
        if dt_s > 0:
            ss = self.steady_state(power_w)
            decay = self._v @ np.diag(np.exp(self._lam * dt_s)) @ self._vinv
            self.temps = ss + decay @ (self.temps - ss)
        return self.temps

    def temp(self, node: str) -> float:
        return float(self.temps[self.spec.index(node)])


# The physical floor of one multiply-accumulate (Horowitz, ISSCC 2014, 45 nm): fp32 3.7 pJ multiply + 0.9 pJ
# add; int8 0.2 pJ + 0.03 pJ. How far a variant is from it shows how much is overhead (memory, instructions).
MAC_FLOOR_PJ = {"fp32": 4.6, "int8": 0.23}
