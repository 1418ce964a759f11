"""`harness simulate-day`, wired for the CLI: costs from the store (measured on the host first when no
stored run has the variant), the day, its table and its page."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.store import Store

__all__ = ["simulate_day_command", "MEASURE_SUITE"]

# what `simulate-day` runs on the host when the store has no measurement of the variant yet
MEASURE_SUITE = """
name = "simulate-day-costs"
description = "host timings of one variant for harness simulate-day"
devices = ["host"]
repetitions = 1
[[models]]
name = "{model}"
variants = ["{technique}"]
[[workloads]]
name = "infer"
signature = "infer"
warmup = 10
iterations = 200
[[workloads]]
name = "personalize"
signature = "train"
warmup = 1
steps = 20
batch_size = {batch}
"""


def _costs(store: Store, variant: str, console: Console, run_bench: Callable[..., Any]):
    from harness.simulate.costs import stored_costs
    from harness.suite import parse_suite
    from models.zoo import build

    costs = stored_costs(store, variant)
    if costs is not None:
        return costs
    console.print(f"no stored run measured {variant}: measuring it on this host first", markup=False)
    batch = build(variant).manifest.get("train_batch") or 16
    model, _, technique = variant.partition("/")
    run_bench(parse_suite(MEASURE_SUITE.format(model=model, technique=technique, batch=batch)), store)
    return stored_costs(store, variant)


def simulate_day_command(args: argparse.Namespace, store: Store, console: Console,
                         render_day: Callable[[Path], Path], day_rows: Callable[[dict[str, Any]], list],
                         run_bench: Callable[..., Any]) -> int:
    """The command; `render_day`, `day_rows` (the dashboard's) and `run_bench` come from the CLI (layers)."""
    from harness.devices.sim.device import host_ghz
    from harness.devices.sim.profiles import load_profile
    from harness.errors import UserError
    from harness.policy import policy_from
    from harness.simulate import run_day, store_day
    from harness.simulate.costs import accuracy_curve
    from harness.simulate.day import load_day

    policy = policy_from(args.policy, "--policy")
    # the rest of what the day needs is checked before a variant with no stored costs is benched (minutes)
    load_profile(args.profile), load_day(args.trace), accuracy_curve(args.variant)
    costs = _costs(store, args.variant, console, run_bench)
    if costs is None:
        raise UserError(f"could not measure {args.variant} on this host")
    run = run_day(args.profile, policy, args.trace, costs, host_ghz=host_ghz())
    folder = store_day(args.results, run)
    page = render_day(folder)
    results = [r.to_dict() for r in run.results]
    if args.json:
        import json

        from harness.jsonable import jsonable

        sys.stdout.write(json.dumps(jsonable({"day_id": run.day_id, "page": str(page), "results": [
            {k: v for k, v in r.items() if k != "timeline"} for r in results]}), indent=2, sort_keys=True) + "\\n")
        return 0
    label = run.manifest["label"]
    table = Table(title=Text(f"Simulated day '{run.manifest['day']['name']}' on {label} (modelled), "
                             f"{args.variant}"))
    table.add_column("")
    for r in results:
        table.add_column(f"policy {r['policy']}", justify="right")
    rows = [day_rows(r) for r in results]
    for i, (name, _) in enumerate(rows[0]):
        table.add_row(*(Text(c) for c in [name, *(cells[i][1] for cells in rows)]))
    console.print(table)
    _targets(console, results)
    for note in dict.fromkeys(n for r in results for n in r["notes"]):
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    console.print(f"day {run.day_id} stored in {folder}", markup=False, soft_wrap=True)
    console.print(f"dashboard: {page}", markup=False, soft_wrap=True)
    return 0


def _targets(console: Console, results: list[dict[str, Any]]) -> None:
    chosen, others = results[0], {r["policy"]: r for r in results[1:]}
    pct = chosen["personalization_battery_pct"]
    console.print(f"target: personalization under policy {chosen['policy']} costs < 1 % of battery capacity per day: "
                  f"{'met' if pct < 1 else 'MISSED'} ({pct:.3f} % from the battery; all its energy, charger "
                  f"included: {chosen['personalization_j']:.1f} J)", markup=False, soft_wrap=True)
    greedy = others.get("greedy")
    if greedy is not None:
        more = greedy["personalization_battery_j"] > chosen["personalization_battery_j"]
        hotter = greedy["degrees_added_c"] > chosen["degrees_added_c"]
        console.print(f"greedy policy on the same day: {greedy['personalization_battery_j']:.1f} J from the battery "
                      f"vs {chosen['personalization_battery_j']:.1f} J "
                      f"({'costs more' if more else 'does NOT cost more'}), "
                      f"{greedy['degrees_added_c']:+.3f} C vs {chosen['degrees_added_c']:+.3f} C at the skin "
                      f"({'heats more' if hotter else 'does NOT heat more'})", markup=False, soft_wrap=True)
