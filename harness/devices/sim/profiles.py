"""Phone profiles (`profiles/<name>.toml`): the parameters a twin models a phone with, each citing its source.

A profile's sections (`battery`, `power`, `cpu`, `thermal`) each carry a `cite` table naming, per parameter,
where its value comes from (an AOSP `power_profile.xml`, a vendor filing, a published measurement) or that
it is an assumption; `load_profile` refuses a parameter without one.

The active cost of a job (`Profile.invoke_cost`): the host's measured time of one invoke, scaled to the
phone by clock and work per clock (`host_ghz / (core_ghz × ipc_vs_host)`) and slowed by throttling, times
the power of the cores it runs on (power_profile mA × battery volts; dynamic power ∝ clock³ when
throttled), never below the physical floor of its MACs (`physics.MAC_FLOOR_PJ`).
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from harness.devices.sim.physics import MAC_FLOOR_PJ, BatterySpec, ThermalSpec
from harness.errors import UserError

__all__ = ["PROFILES_DIR", "Profile", "InvokeCost", "load_profile", "profile_names"]

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
_SECTIONS = ("battery", "power", "cpu", "thermal")


@dataclasses.dataclass(frozen=True)
class InvokeCost:
    """What one invoke or train step costs on the phone."""

    phone_s: float  # modelled duration on the phone
    energy_j: float  # active energy above the awake floor
    floor_j: float  # MACs × the physical floor


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    description: str
    kind: str  # "android" or "ios"
    model: str
    os: str
    soc: str
    battery: BatterySpec
    volts: float
    initial_level_pct: float
    suspend_w: float
    awake_w: float  # added while a job runs (wake lock, no CPU work)
    screen_w: float  # added while the screen is on
    core_ghz: tuple[float, ...]  # fastest first
    core_w: tuple[float, ...]
    ipc_vs_host: float
    thermal: ThermalSpec
    ambient_c: float
    cites: dict[str, dict[str, str]]
    sources: dict[str, str]

    @property
    def label(self) -> str:
        """The source label every figure of this twin carries."""
        return f"model:{self.name}"

    def cores_w(self, threads: int, clock: float = 1.0) -> float:
        """Power of the `threads` fastest cores at `clock` × their top clock (dynamic power ∝ f·V² ∝ f³)."""
        n = max(1, min(threads, len(self.core_w)))
        return sum(self.core_w[:n]) * clock**3

    def invoke_cost(self, host_s: float, host_ghz: float, threads: int, macs: int | None, dtype: str,
                    clock: float = 1.0) -> InvokeCost:
        n = max(1, min(threads, len(self.core_ghz)))
        phone_s = host_s * host_ghz / (min(self.core_ghz[:n]) * self.ipc_vs_host) / max(clock, 1e-3)
        floor = (macs or 0) * MAC_FLOOR_PJ.get(dtype, MAC_FLOOR_PJ["fp32"]) * 1e-12
        return InvokeCost(phone_s, max(self.cores_w(threads, clock) * phone_s, floor), floor)


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def _section(data: dict[str, Any], name: str, path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    section = dict(data.get(name) or {})
    cites = section.pop("cite", {})
    missing = sorted(set(section) - set(cites))
    if missing:
        raise UserError(f"{path}: [{name}] {missing[0]} cites no source ([{name}.cite] {missing[0]} = \"...\", or "
                        "say it is an assumption)")
    return section, cites


def load_profile(name: str, directory: Path = PROFILES_DIR) -> Profile:
    """The profile called `name`; UserError naming the known ones otherwise."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"unknown phone profile {name!r}; known: {', '.join(profile_names()) or 'none'}")
    data = tomllib.loads(path.read_text())
    sections = {s: _section(data, s, path) for s in _SECTIONS}
    (b, _), (p, _), (c, _), (t, _) = (sections[s] for s in _SECTIONS)
    volts = float(b["volts"])
    try:
        battery = BatterySpec(float(b["capacity_mah"]), tuple((float(s), float(v)) for s, v in b["ocv"]),
                              float(b["internal_resistance_ohm"]), float(b["charge_w"]), float(b["charge_efficiency"]))
        thermal = ThermalSpec(tuple(t["nodes"]), tuple(float(x) for x in t["heat_capacity_j_per_k"]),
                              tuple((a, z, float(g)) for a, z, g in t["links"]),
                              {k: float(v) for k, v in t["to_ambient"].items()},
                              status_thresholds_c=tuple(float(x) for x in t["status_thresholds_c"]),
                              clock_by_status=tuple(float(x) for x in t["clock_by_status"]))
        return Profile(
            name=data["name"], description=data["description"], kind=data["kind"], model=data["model"],
            os=data["os"], soc=data["soc"], battery=battery, volts=volts,
            initial_level_pct=float(b["initial_level_pct"]),
            suspend_w=p["suspend_ma"] * volts / 1000, awake_w=p["awake_ma"] * volts / 1000,
            screen_w=(p["screen_on_ma"] + p["screen_brightness"] * p["screen_full_ma"]) * volts / 1000,
            core_ghz=tuple(float(x) for x in c["core_ghz"]), core_w=tuple(x * volts / 1000 for x in c["core_ma"]),
            ipc_vs_host=float(c["ipc_vs_host"]), thermal=thermal, ambient_c=float(t["ambient_c"]),
            cites={s: sections[s][1] for s in _SECTIONS}, sources=dict(data.get("sources", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: bad profile ({exc})") from exc
