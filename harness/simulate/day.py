"""A simulated day: a phone twin lives through a usage trace while an app personalizes under a policy.

Minute by minute the trace sets the screen, the charger, the network and the ambient temperature; the
app runs inference at its rate (slowed when the policy says the phone is hot) and asks for an update
(`steps_per_update` training steps on the data gathered since) every `update_every_min`. The policy
decides whether a pending update starts, and pauses a running one when its rules stop holding; steps not
run carry over (the data waits on the phone), and what never ran by the end of the day is skipped, with
why. Costs are the variant's measured host timings scaled by the twin's profile (`Profile.invoke_cost`),
plus `update_overhead_s` of one busy core per update (process start, model and data load: an assumption).
The same day without personalization gives the reference for the battery and the degrees it adds.
"""

from __future__ import annotations

import collections
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from harness.devices.sim.physics import MAC_FLOOR_PJ
from harness.devices.sim.profiles import Profile
from harness.devices.sim.twin import PhoneTwin
from harness.errors import UserError
from harness.policy import PhoneState, Policy
from harness.simulate.costs import AccuracyCurve, VariantCosts

__all__ = ["DAYS_DIR", "DayTrace", "DayResult", "AppLoad", "load_day", "day_names", "simulate_day", "with_reference"]

DAYS_DIR = Path(__file__).resolve().parent / "days"
MINUTE_NS = 60 * 10**9


@dataclasses.dataclass(frozen=True)
class DayTrace:
    name: str
    description: str
    sources: tuple[str, ...]
    charging: tuple[tuple[float, float], ...]  # [start h, end h)
    unmetered: tuple[tuple[float, float], ...]
    screen: tuple[tuple[float, float], ...]
    ambient_c: tuple[tuple[float, float], ...]  # (hour, C), linear between
    use_w: float = 1.5  # what the user's own apps draw while the screen is on (besides the screen itself)

    def at(self, hour: float) -> tuple[bool, bool, bool, float]:
        """(charging, unmetered, screen on, ambient C) at `hour` (0..24)."""
        inside = [any(a <= hour % 24 < b for a, b in w) for w in (self.charging, self.unmetered, self.screen)]
        h, c = zip(*self.ambient_c)
        return inside[0], inside[1], inside[2], float(np.interp(hour, h, c))


@dataclasses.dataclass(frozen=True)
class AppLoad:
    """What the app asks of the phone."""

    inferences_per_hour: float = 2800.0  # HAR: a 2.56 s window every 1.28 s (50 % overlap)
    update_every_min: int = 60
    steps_per_update: int = 20
    update_overhead_s: float = 2.0


def day_names() -> list[str]:
    return sorted(p.stem for p in DAYS_DIR.glob("*.toml"))


def load_day(name: str) -> DayTrace:
    path = Path(name) if name.endswith(".toml") else DAYS_DIR / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"unknown day trace {name!r}; shipped: {', '.join(day_names())} (or a .toml file)")
    d = tomllib.loads(path.read_text())
    try:
        keys = ("charging", "unmetered", "screen", "ambient_c")
        pairs = {k: tuple((float(a), float(b)) for a, b in d[k]) for k in keys}
        return DayTrace(d["name"], d["description"], tuple(d.get("sources", ())), **pairs,
                        use_w=float(d.get("use_w", 1.5)))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"day trace {path}: {exc!r}") from exc


@dataclasses.dataclass(frozen=True)
class DayResult:
    profile: str
    policy: str
    day: str
    variant: str
    personalization_j: float  # update energy, charger or battery
    personalization_battery_j: float  # the part drawn from the battery (not the charger)
    personalization_battery_pct: float  # of the battery's capacity
    inference_j: float
    updates_started: int
    updates_completed: int
    pauses: int
    steps_done: int
    steps_skipped: int
    deferred: dict[str, int]  # reason -> minutes a pending update waited for it
    minutes_in_status: dict[int, int]
    max_skin_c: float
    degrees_added_c: float  # max over the day of skin temperature above the same day without personalization
    accuracy_start_pct: float
    accuracy_end_pct: float
    gain_per_j: float | None  # accuracy points per joule of personalization
    battery_end_pct: float
    timeline: dict[str, list[float]]  # per minute: hour, level, skin, soc, status, power, updating
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def simulate_day(profile: Profile, policy: Policy, trace: DayTrace, costs: VariantCosts, curve: AccuracyCurve,
                 load: AppLoad = AppLoad(), *, personalize: bool = True, host_ghz: float = 3.0) -> DayResult:
    """Live one day (00:00-24:00, one-minute steps) on a fresh twin of `profile`."""
    twin = PhoneTwin(profile, 0, period_s=60.0)
    twin.battery.soc = profile.initial_level_pct / 100
    pending = done = skipped = started = completed = pauses = 0
    running = False
    update_j = battery_j = infer_j = 0.0
    deferred: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    series: dict[str, list[float]] = {k: [] for k in ("hour", "level", "skin", "soc", "status", "power", "updating")}
    for minute in range(24 * 60):
        hour = minute / 60
        charging, unmetered, screen, ambient = trace.at(hour)
        twin.battery.plugged, twin.screen_on, twin.thermal.ambient_c = charging, screen, ambient
        state = PhoneState(charging, twin.level_pct, twin.status, unmetered, screen)
        if personalize and minute % load.update_every_min == 0 and minute:
            pending += load.steps_per_update
        t0 = minute * MINUTE_NS
        clock = twin.clock
        # inference all day (the product), slowed by the policy when hot
        step_cost = profile.invoke_cost(costs.infer_host_s, host_ghz, 1, costs.macs_per_inference, costs.dtype, clock)
        n_infer = load.inferences_per_hour / 60 * policy.inference_rate(state)
        joules = n_infer * step_cost.energy_j
        infer_j += joules
        joules += trace.use_w * 60 * screen  # the user's own apps
        busy_s = 0.0
        if pending:
            why = policy.blockers(state)
            if why:
                pauses += running
                running = False
                for reason in why:
                    deferred[_kind(reason, policy)] += 1
            else:
                if not running:
                    started += 1
                    running = True
                    busy_s += load.update_overhead_s
                train = profile.invoke_cost(costs.train_step_host_s, host_ghz, 1, costs.macs_per_train_step, "fp32",
                                            clock)
                n = min(pending, int((60.0 - busy_s) / max(train.phone_s, 1e-6)))
                e = n * train.energy_j + load.update_overhead_s * profile.cores_w(1, clock) * (busy_s > 0)
                pending -= n
                done += n
                update_j += e
                battery_j += 0.0 if charging else e
                joules += e
                busy_s += n * train.phone_s
                if not pending:
                    running = False
                    completed += 1
        twin.awake = busy_s > 0
        twin.deposit(t0, t0 + MINUTE_NS, joules)
        twin.advance_to(t0 + MINUTE_NS)
        statuses[twin.status] += 1
        for key, value in (("hour", hour + 1 / 60), ("level", twin.level_pct), ("skin", twin.thermal.temp("skin")),
                           ("soc", twin.thermal.temp("soc")), ("status", twin.status),
                           ("power", twin.last_power_w), ("updating", float(busy_s > 0))):
            series[key].append(float(value))
    skipped = pending
    empty = next((h for h, level in zip(series["hour"], series["level"]) if level <= 0), None)
    acc0, acc1 = curve.at(0), curve.at(done)
    notes = [f"timings: {costs.source}", f"accuracy: {curve.source}",
             f"MAC floor: Horowitz ISSCC 2014 ({MAC_FLOOR_PJ['fp32']} pJ fp32, {MAC_FLOOR_PJ['int8']} pJ int8)"]
    if empty is not None:
        notes.append(f"the battery ran empty at {int(empty):02d}:{round(empty % 1 * 60):02d}: a real phone shuts down "
                     "there; the model carries on at 0 %")
    if not personalize:
        notes.append("the same day without personalization (reference)")
    cap_j = profile.battery.nominal_wh * 3600
    return DayResult(
        profile=profile.name, policy=policy.name if personalize else "none", day=trace.name, variant=costs.variant,
        personalization_j=update_j, personalization_battery_j=battery_j,
        personalization_battery_pct=battery_j / cap_j * 100, inference_j=infer_j,
        updates_started=started, updates_completed=completed, pauses=pauses, steps_done=done, steps_skipped=skipped,
        deferred=dict(deferred), minutes_in_status=dict(sorted(statuses.items())), max_skin_c=max(series["skin"]),
        degrees_added_c=0.0, accuracy_start_pct=acc0, accuracy_end_pct=acc1,
        gain_per_j=(acc1 - acc0) / update_j if update_j > 0 else None, battery_end_pct=twin.level_pct,
        timeline=series, notes=tuple(notes))


def _kind(reason: str, policy: Policy) -> str:
    """A blocker without its reading ("battery 21 % < 30 %" -> "battery < 30 %"), to count minutes by kind."""
    if reason.startswith("battery"):
        return f"battery < {policy.min_battery_pct:g} %"
    if reason.startswith("thermal"):
        return f"thermal status >= {policy.pause_at_status}"
    return reason


def with_reference(result: DayResult, reference: DayResult) -> DayResult:
    """`result` with the degrees it added over the same day without personalization."""
    added = max(a - b for a, b in zip(result.timeline["skin"], reference.timeline["skin"]))
    return dataclasses.replace(result, degrees_added_c=float(added))
