"""Latency statistics of one job: percentiles and a bootstrap confidence interval of the median."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from harness.analysis.stats import bootstrap_ci

__all__ = ["LatencyStats", "latency_stats"]


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """All in milliseconds; `n` is the number of measured (non warm-up) invokes or steps."""

    n: int
    mean_ms: float
    stdev_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    median_ci_low_ms: float
    median_ci_high_ms: float

    def as_row(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def latency_stats(values_ms: Sequence[float] | np.ndarray, *, seed: int = 0) -> LatencyStats:
    """Summarise per-invoke latencies; raises ValueError on an empty sequence."""
    data = np.asarray(values_ms, dtype=float)
    if data.size == 0:
        raise ValueError("latency_stats needs at least one latency")
    p50, p90, p99 = np.percentile(data, [50, 90, 99])
    low, high = bootstrap_ci(data, seed=seed)
    return LatencyStats(
        n=int(data.size), mean_ms=float(data.mean()), stdev_ms=float(data.std(ddof=1)) if data.size > 1 else 0.0,
        min_ms=float(data.min()), max_ms=float(data.max()), p50_ms=float(p50), p90_ms=float(p90),
        p99_ms=float(p99), median_ci_low_ms=low, median_ci_high_ms=high,
    )
