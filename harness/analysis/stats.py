"""Bootstrap statistics: a one-sample interval, and a two-level bootstrap of a ratio for comparing runs.

For the ratio, values come in groups (one group per job repetition). Resampling repetitions first
and values within them second keeps the between-repetition spread (heat, drift) in the interval,
which pooling all invokes would hide.

`t_quantile` is Student's t (no SciPy here): the regression gate's interval and floor come from a spread
estimated on a few repetitions or runs, and a normal quantile would pretend that estimate is exact.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["RatioCI", "UNSTABLE_CV", "bootstrap_ci", "bootstrap_ratio", "p90", "repetition_cv", "t_quantile"]

# Repetitions whose statistic varies more than this (coefficient of variation) make a run unstable: the
# summary warns, and `harness compare` calls no change on it (as pyperf warns on unstable benchmarks).
UNSTABLE_CV = 0.10

Statistic = Callable[..., np.ndarray]


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., np.ndarray] = np.median,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(values, axis=1)`; seeded, so reproducible."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    estimates = np.empty(resamples)
    chunk = max(1, 2_000_000 // data.size)  # bound memory for long jobs
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        estimates[start:stop] = statistic(data[rng.integers(0, data.size, (stop - start, data.size))], axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(estimates, [alpha, 1 - alpha])
    return float(low), float(high)


def repetition_cv(values: Sequence[float] | np.ndarray) -> float | None:
    """Coefficient of variation (sample sd / mean) of one statistic across repetitions; None for fewer than
    two positive values."""
    data = np.asarray([v for v in values if v == v], dtype=float)
    if data.size < 2 or data.mean() <= 0:
        return None
    return float(data.std(ddof=1) / data.mean())


def p90(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    return np.percentile(values, 90, axis=axis)


@dataclasses.dataclass(frozen=True)
class RatioCI:
    """statistic(new) / statistic(base) and its confidence interval."""

    ratio: float
    low: float
    high: float


def _resample(groups: Sequence[np.ndarray], statistic: Statistic, resamples: int,
              rng: np.random.Generator) -> np.ndarray:
    """`statistic` of `resamples` two-level bootstrap samples (groups, then values within each)."""
    sizes = np.array([g.size for g in groups])
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    flat = np.concatenate(groups)
    per_group = max(1, int(round(sizes.mean())))
    out = np.empty(resamples)
    chunk = max(1, 2_000_000 // (len(groups) * per_group))  # bound memory for long jobs
    for start in range(0, resamples, chunk):
        n = min(resamples, start + chunk) - start
        picked = rng.integers(0, len(groups), (n, len(groups), 1))
        within = (rng.random((n, len(groups), per_group)) * sizes[picked]).astype(np.int64)
        out[start:start + n] = statistic(flat[(offsets[picked] + within).reshape(n, -1)], axis=1)
    return out


def bootstrap_ratio(base: Sequence[Sequence[float]], new: Sequence[Sequence[float]],
                    statistic: Statistic = np.median, *, confidence: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> RatioCI:
    """statistic(new) / statistic(base) over pooled values, with a seeded percentile bootstrap interval."""
    base_groups = [np.asarray(g, float) for g in base if len(g)]
    new_groups = [np.asarray(g, float) for g in new if len(g)]
    if not base_groups or not new_groups:
        raise ValueError("bootstrap_ratio needs at least one value on each side")
    rng = np.random.default_rng(seed)
    point_base = float(statistic(np.concatenate(base_groups)))
    point_new = float(statistic(np.concatenate(new_groups)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = _resample(new_groups, statistic, resamples, rng) / _resample(base_groups, statistic, resamples, rng)
        ratio = point_new / point_base if point_base else (1.0 if point_new == point_base else np.inf)
    ratios = ratios[~np.isnan(ratios)]
    if ratios.size == 0:  # both sides are all zeros
        return RatioCI(1.0, 1.0, 1.0)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return RatioCI(float(ratio), float(low), float(high))


@functools.lru_cache(maxsize=256)
def t_quantile(q: float, df: float) -> float:
    """The `q` quantile of Student's t with `df` degrees of freedom (df >= 1), to about 1e-6.

    With t = sqrt(df) tan(theta) the density becomes proportional to cos(theta)^(df - 1) on
    (-pi/2, pi/2), whose integral is tabulated and inverted here.
    """
    if not 0 < q < 1 or not df >= 1:
        raise ValueError(f"t_quantile needs 0 < q < 1 and df >= 1, got q={q}, df={df}")
    if q == 0.5:
        return 0.0
    theta = np.linspace(0.0, np.pi / 2, 200_001)
    density = np.cos(theta) ** (df - 1)
    cdf = np.concatenate(([0.0], np.cumsum((density[1:] + density[:-1]) / 2)))
    cdf /= cdf[-1]  # P(0 < T < t) / P(T > 0)
    angle = float(np.interp(abs(2 * q - 1), cdf, theta))
    return float(np.copysign(np.sqrt(df) * np.tan(angle), q - 0.5))
