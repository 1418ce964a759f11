"""Latency statistics of one job: percentiles and a bootstrap confidence interval of the median."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from harness.analysis.stats import bootstrap_ci

__all__ = ["LatencyStats", "latency_stats", "median_ci"]


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


# Above this many latencies the median's interval comes from order statistics, not resampling: as
# exact there, and a long job's million invokes are not resampled 2000 times.
ORDER_STATISTIC_N = 20_000


def median_ci(data: np.ndarray, confidence: float = 0.95, *, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the median: bootstrap, or for large samples the distribution-free order-statistic
    interval (ranks n/2 ± z·√n/2 of the sorted values)."""
    if data.size <= ORDER_STATISTIC_N:
        return bootstrap_ci(data, confidence=confidence, seed=seed)
    z = float(NormalDist().inv_cdf(0.5 + confidence / 2))
    half = z * math.sqrt(data.size) / 2
    low, high = max(0, math.floor(data.size / 2 - half)), min(data.size - 1, math.ceil(data.size / 2 + half))
    ranked = np.partition(data, (low, high))
    return float(ranked[low]), float(ranked[high])


def latency_stats(values_ms: Sequence[float] | np.ndarray, *, seed: int = 0) -> LatencyStats:
    """Summarise per-invoke latencies; raises ValueError on an empty sequence."""
    data = np.asarray(values_ms, dtype=float)
    if data.size == 0:
        raise ValueError("latency_stats needs at least one latency")
    p50, p90, p99 = np.percentile(data, [50, 90, 99])
    low, high = median_ci(data, seed=seed)
    return LatencyStats(
        n=int(data.size), mean_ms=float(data.mean()), stdev_ms=float(data.std(ddof=1)) if data.size > 1 else 0.0,
        min_ms=float(data.min()), max_ms=float(data.max()), p50_ms=float(p50), p90_ms=float(p90),
        p99_ms=float(p99), median_ci_low_ms=low, median_ci_high_ms=high,
    )
