"""What a model variant costs and gains, as measured: per-step and per-inference host time (from the
latest stored run that measured the variant, else a short measurement on this host) and the accuracy it
reaches after N training steps (the few-step curve `nox -s models` measured, models/RESULTS.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np

from harness.errors import UserError
from harness.store import Store

__all__ = ["VariantCosts", "AccuracyCurve", "accuracy_curve", "keyboard_curve", "stored_costs", "RESULTS_MD"]

RESULTS_MD = Path(__file__).resolve().parent.parent.parent / "models" / "RESULTS.md"
KEYBOARD_RESULTS = RESULTS_MD.parent / "keyboard" / "results.json"


@dataclasses.dataclass(frozen=True)
class AccuracyCurve:
    """Accuracy (%) after n training steps on one person's data; steps 0 is the global model."""

    steps: tuple[int, ...]
    accuracy_pct: tuple[float, ...]
    source: str

    def at(self, steps: float) -> float:
        """Linear in log(1 + steps) between measured points; the last measured value beyond them."""
        x = np.log1p(np.array(self.steps, float))
        return float(np.interp(math.log1p(max(0.0, steps)), x, self.accuracy_pct))


def keyboard_curve(variant: str, path: Path = KEYBOARD_RESULTS) -> AccuracyCurve:
    """A keyboard variant's measured keystroke savings (%) before and after its update (mean over the held-out
    plays' users and the personalization seeds), from `harness models eval --task keyboard --json`'s output."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the keyboard evaluation ({path}): {exc}") from exc
    row = next((r for r in data.get("rows", []) if r.get("variant") == variant and r.get("steps")), None)
    if row is None:
        known = ", ".join(r["variant"] for r in data.get("rows", []) if r.get("steps"))
        raise UserError(f"{path.name} has no measured update of {variant!r}; keyboard variants with one: {known}")
    return AccuracyCurve((0, round(row["steps"])), (100 * data["base"]["keystroke_savings"],
                                                    100 * row["personal"]["keystroke_savings"]),
                         f"models/keyboard/results.json: keystroke savings before and after {row['steps']:.0f} "
                         f"steps, mean over {row['users']} users and {row['seeds']} seeds")


def accuracy_curve(variant: str, condition: str = "cross-placement", path: Path = RESULTS_MD) -> AccuracyCurve:
    """The measured curve of `variant`: a keyboard variant's keystroke savings (`keyboard_curve`), else the
    activity-recognition few-step curve (mean over held-out subjects) from models/RESULTS.md."""
    if variant.startswith("keyboard-"):
        return keyboard_curve(variant)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read the measured accuracy curves ({path}): {exc.strerror}") from exc
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
             if line.startswith(f"| {variant} | {condition} |")]
    glob = next((float(c[5].split()[0]) for c in cells if len(c) > 6 and "steps" in c[3]), None)
    points = {int(c[2]): float(c[3]) for c in cells if len(c) == 6 and re.fullmatch(r"\d+", c[2])}
    if glob is None or not points:
        raise UserError(f"models/RESULTS.md has no measured accuracy curve of {variant!r} ({condition}); "
                        "personalization variants with one: har-cnn/bitfit, har-cnn/adapter, har-cnn/last-layer, ...")
    steps = (0, *sorted(points))
    return AccuracyCurve(steps, (glob, *(points[s] for s in steps[1:])),
                         f"models/RESULTS.md few-step curve, {condition}, mean over held-out subjects")


@dataclasses.dataclass(frozen=True)
class VariantCosts:
    variant: str
    train_step_host_s: float  # median host time of one training step
    infer_host_s: float  # median host time of one inference
    macs_per_train_step: int | None
    macs_per_inference: int | None
    dtype: str
    source: str  # where the timings come from


def stored_costs(store: Store, variant: str, infer_variant: str | None = None) -> VariantCosts | None:
    """Timings of `variant` from the latest complete run that measured it (host or twin rows, ok jobs)."""
    infer_variant = infer_variant or variant
    for run in reversed(store.runs()):
        if run.get("status") != "complete":
            continue
        rows = store.results(run["run_id"])
        if rows.empty or "p50_ms" not in rows:
            continue
        ok = rows[rows["status"] == "ok"]
        train = ok[(ok["variant"] == variant) & (ok["signature"] == "train")]["p50_ms"].dropna()
        infer = ok[(ok["variant"] == infer_variant) & (ok["signature"] == "infer")]["p50_ms"].dropna()
        if train.empty or infer.empty:
            continue
        manifest = store.manifest(run["run_id"])["artifacts"]
        train_m, infer_m = manifest.get(variant, {}), manifest.get(infer_variant, {})
        return VariantCosts(variant, float(train.median()) / 1e3, float(infer.median()) / 1e3,
                            train_m.get("macs_per_train_step"), infer_m.get("macs_per_inference"),
                            "int8" if "int8" in str(infer_m.get("quantization") or "") else "fp32",
                            f"run {run['run_id']} (median p50 of its jobs)")
    return None
