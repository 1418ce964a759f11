"""`harness simulate-day`: a phone twin lives through a day of usage while an app personalizes under a
policy, next to the same day under the greedy policy and without personalization; stored like a run
(`results/days/<id>/result.json`) with its dashboard page.

`costs` (measured timings and accuracy curves), `day` (the simulation, the shipped traces in `days/`).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from pathlib import Path
from typing import Any

from harness.devices.sim.profiles import load_profile
from harness.files import write_atomic
from harness.jsonable import jsonable
from harness.policy import POLICIES, Policy
from harness.provenance import git_commit
from harness.simulate.costs import VariantCosts, accuracy_curve
from harness.simulate.day import AppLoad, DayResult, load_day, simulate_day, with_reference

__all__ = ["DayRun", "run_day", "store_day", "load_stored_day", "DAY_FORMAT"]

DAY_FORMAT = 1  # format history: 1 (issue 12) manifest + three DayResults (policy, greedy, none)


@dataclasses.dataclass(frozen=True)
class DayRun:
    day_id: str
    manifest: dict[str, Any]
    results: tuple[DayResult, ...]  # the chosen policy, greedy (unless chosen), no personalization


def run_day(profile_name: str, policy: Policy, day_name: str, costs: VariantCosts, load: AppLoad | None = None,
            host_ghz: float = 3.0) -> DayRun:
    profile, trace, load = load_profile(profile_name), load_day(day_name), load or AppLoad()
    curve = accuracy_curve(costs.variant)
    policies = [policy] + ([POLICIES["greedy"]] if policy.name != "greedy" else [])
    reference = simulate_day(profile, policy, trace, costs, curve, load, personalize=False, host_ghz=host_ghz)
    results = tuple(with_reference(simulate_day(profile, p, trace, costs, curve, load, host_ghz=host_ghz), reference)
                    for p in policies) + (reference,)
    day_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{secrets.token_hex(3)}"  # like a run's
    manifest = {"format": DAY_FORMAT, "day_id": day_id,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "git_commit": git_commit(), "profile": profile.name, "profile_description": profile.description,
                "label": profile.label, "day": dataclasses.asdict(trace), "policy": dataclasses.asdict(policy),
                "load": dataclasses.asdict(load), "costs": dataclasses.asdict(costs), "accuracy_curve":
                dataclasses.asdict(curve), "host_ghz": host_ghz}
    return DayRun(day_id, manifest, results)


def store_day(results_root: Path, run: DayRun) -> Path:
    """Write the day under `<results>/days/<id>/result.json` (atomic, never over a stored day); its directory."""
    folder = Path(results_root) / "days" / run.day_id
    folder.mkdir(parents=True, exist_ok=False)
    data = {"manifest": run.manifest, "results": [r.to_dict() for r in run.results]}
    write_atomic(folder / "result.json", json.dumps(jsonable(data), indent=1, sort_keys=True))
    return folder


def load_stored_day(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "result.json").read_text())
