"""Energy-aware scheduling policies: when a personalization update may start, when it pauses, how fast
inference runs when the phone is hot.

A policy is a small rule set with conservative defaults (`Policy()`, named `default`):

- an update starts only while charging (`requires_charging`; optionally also on an unmetered network,
  `requires_unmetered`), with the battery at or above `min_battery_pct`, and the thermal status below
  `pause_at_status` (Android levels: 2 = MODERATE);
- a running update pauses as soon as one of those stops holding, and resumes when they all hold again;
- inference runs at `hot_inference_rate` × its normal rate while the status is at or above `slow_at_status`.

Users pick one by name (`policy = "default"` / `"greedy"` in a suite) or give the keys in a suite's
`[policy]` table or a policy file (TOML, the same keys). The job protocol carries it (`policy` in the job
document of a train job) so each platform maps it 1:1 to its scheduler (docs/policies.md):

| key | Android WorkManager | iOS BGProcessingTaskRequest |
| --- | --- | --- |
| requires_charging | Constraints.setRequiresCharging | requiresExternalPower |
| requires_unmetered | setRequiredNetworkType(UNMETERED) | requiresNetworkConnectivity (+ app check for Wi-Fi) |
| min_battery_pct | setRequiresBatteryNotLow (15 %) + app check | app check (UIDevice.batteryLevel) |
| pause_at_status | PowerManager.getCurrentThermalStatus, stop the Worker | ProcessInfo.thermalState, end the task |
| slow_at_status, hot_inference_rate | app-side (OnThermalStatusChangedListener) | thermalStateDidChangeNotification |
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from harness.errors import UserError

__all__ = ["Policy", "PhoneState", "POLICIES", "policy_from", "load_policy_file"]


@dataclasses.dataclass(frozen=True)
class PhoneState:
    """What a scheduler sees when it decides."""

    charging: bool
    battery_pct: float
    thermal_status: int  # Android levels 0..6 (iOS thermalState mapped: nominal 0, fair 1, serious 3, critical 4)
    unmetered: bool = True
    screen_on: bool = False


@dataclasses.dataclass(frozen=True)
class Policy:
    name: str = "default"
    requires_charging: bool = True
    requires_unmetered: bool = False
    min_battery_pct: float = 30.0
    pause_at_status: int = 2  # MODERATE
    slow_at_status: int = 1  # LIGHT
    hot_inference_rate: float = 0.5

    def __post_init__(self):
        if not 0 <= self.min_battery_pct <= 100:
            raise UserError(f"policy {self.name!r}: min_battery_pct must be 0..100, got {self.min_battery_pct!r}")
        for key in ("pause_at_status", "slow_at_status"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
                raise UserError(f"policy {self.name!r}: {key} must be an integer 1..7 (7: never), got {value!r}")
        if not 0 < self.hot_inference_rate <= 1:
            raise UserError(f"policy {self.name!r}: hot_inference_rate must be in (0, 1], "
                            f"got {self.hot_inference_rate!r}")

    def blockers(self, state: PhoneState) -> list[str]:
        """Why an update may not run now (empty: it may start, or go on)."""
        why = []
        if self.requires_charging and not state.charging:
            why.append("not charging")
        if self.requires_unmetered and not state.unmetered:
            why.append("metered network")
        if state.battery_pct < self.min_battery_pct:
            why.append(f"battery {state.battery_pct:.0f} % < {self.min_battery_pct:g} %")
        if state.thermal_status >= self.pause_at_status:
            why.append(f"thermal status {state.thermal_status} >= {self.pause_at_status}")
        return why

    def may_update(self, state: PhoneState) -> bool:
        return not self.blockers(state)

    def inference_rate(self, state: PhoneState) -> float:
        return self.hot_inference_rate if state.thermal_status >= self.slow_at_status else 1.0

    def to_job(self) -> dict[str, Any]:
        """The job protocol's `policy` object."""
        return {k: v for k, v in dataclasses.asdict(self).items()}


POLICIES: dict[str, Policy] = {p.name: p for p in (
    Policy(),
    # updates whenever asked: what the default policy is measured against
    Policy("greedy", requires_charging=False, min_battery_pct=0.0, pause_at_status=7, slow_at_status=7,
           hot_inference_rate=1.0),
)}
_KEYS = {f.name for f in dataclasses.fields(Policy)}


def policy_from(value: Any, where: str = "policy", base: Path | None = None) -> Policy:
    """A policy from a suite's `policy` value: a known name, a policy file (`*.toml`, relative to `base`) or a
    table of keys (unknown keys are an error naming them)."""
    if isinstance(value, str):
        if value in POLICIES:
            return POLICIES[value]
        if value.endswith(".toml"):
            return load_policy_file((base or Path.cwd()) / value)
        raise UserError(f"{where}: unknown policy {value!r}; known: {', '.join(POLICIES)} (or a .toml policy file)")
    if not isinstance(value, dict):
        raise UserError(f"{where}: a policy name or table, not {value!r}")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_KEYS))})")
    start = POLICIES.get(value.get("name", "default"), POLICIES["default"])
    return dataclasses.replace(start, **{"name": "custom", **value})


def load_policy_file(path: Path) -> Policy:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"policy file {path}: {exc}") from exc
    return policy_from(data.get("policy", data), f"policy file {path}")
