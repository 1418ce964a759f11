"""Runner against runner: the same model, device and workload shape run by different runners in one suite.

Teams ask whether their app loses time that a command-line benchmark does not (tensorflow #42507, #25537).
A suite answers it by running one model with several runners (`runner = "native" | "companion" |
"benchmark_model"`, one workload each, same signature, delegate and threads); this module gives each
runner's latency as a ratio to the reference runner's, with a bootstrap interval over the jobs' invokes.
`benchmark_model` reports aggregates only, so a ratio involving it compares means and has no interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness.analysis.stats import bootstrap_ratio

__all__ = ["RunnerRatio", "runner_ratios", "REFERENCE_ORDER"]

# the reference is the first present of these (runner names as runners report them: native-litert, ...)
REFERENCE_ORDER = ("native", "benchmark_model")
_SHAPE = ["variant", "device_id", "signature", "delegate", "threads"]


@dataclasses.dataclass(frozen=True)
class RunnerRatio:
    """`runner`'s latency over `reference`'s for one model, device and workload shape."""

    variant: str
    device_id: str
    shape: str  # "infer on xnnpack, 1 thread"
    runner: str
    reference: str
    ratio: float
    low: float | None  # None: no interval (a side reports aggregates only)
    high: float | None
    statistic: str  # "median" (per-invoke latencies on both sides) or "mean"
    jobs: int  # this runner's jobs in the group
    load_ratio: float | None  # the same for model load time (`load_ms`), where both runners report it


def runner_ratios(results: pd.DataFrame, latencies: Mapping[str, np.ndarray]) -> list[RunnerRatio]:
    """Ratios for every group of ok jobs that more than one runner ran; `latencies` maps a job id to its
    measured latencies (ms), absent for an aggregates-only runner."""
    ok = results[results["status"].eq("ok") & results["runner"].notna()] if not results.empty else results
    out: list[RunnerRatio] = []
    for key, group in ok.groupby(_SHAPE, dropna=False, sort=True):
        runners = list(dict.fromkeys(group["runner"]))
        if len(runners) < 2:
            continue
        reference = next((r for prefix in REFERENCE_ORDER for r in runners if r.startswith(prefix)), runners[0])
        ref = group[group["runner"].eq(reference)]
        variant, device, signature, delegate, threads = key
        shape = f"{signature} on {delegate}, {int(threads)} thread{'s' * (int(threads) != 1)}"
        for runner in runners:
            if runner == reference:
                continue
            mine = group[group["runner"].eq(runner)]
            out.append(_ratio(ref, mine, latencies, variant, device, shape, runner, reference))
    return out


def _ratio(ref: pd.DataFrame, mine: pd.DataFrame, latencies: Mapping[str, np.ndarray], variant: str, device: str,
           shape: str, runner: str, reference: str) -> RunnerRatio:
    base = [latencies[j] for j in ref["job_id"] if len(latencies.get(j, ()))]
    new = [latencies[j] for j in mine["job_id"] if len(latencies.get(j, ()))]
    if len(base) == len(ref) and len(new) == len(mine) and base and new:
        ci = bootstrap_ratio(base, new)
        ratio, low, high, statistic = ci.ratio, ci.low, ci.high, "median"
    else:  # an aggregates-only side: the tools' own means
        ratio, low, high, statistic = float(mine["mean_ms"].mean() / ref["mean_ms"].mean()), None, None, "mean"
    load = None
    if ref["load_ms"].notna().any() and mine["load_ms"].notna().any():
        load = float(mine["load_ms"].median() / ref["load_ms"].median())
    return RunnerRatio(variant, device, shape, runner, reference, ratio, low, high, statistic, len(mine), load)
