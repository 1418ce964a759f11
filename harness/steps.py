"""Step detection in a metric's history (one value per run), in the manner of asv `step_detect`.

The series is fitted with a piecewise-constant function minimising the L1 distance to each
segment's median plus a penalty per segment (optimal partitioning by dynamic programming). The
penalty scales with a robust noise estimate, so noise alone does not make steps; steps smaller than
`min_change` (relative) are not reported. Segments hold at least `min_size` points, so one odd run
is an outlier, not two steps (a new level needs two runs to show).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Step", "Segment", "detect_steps", "segments", "steps_between"]


@dataclasses.dataclass(frozen=True)
class Segment:
    start: int  # first index
    stop: int  # one past the last index
    level: float  # median of the segment


@dataclasses.dataclass(frozen=True)
class Step:
    index: int  # first index after the step
    before: float
    after: float

    @property
    def change(self) -> float:
        """Relative change, e.g. 0.1 for 10 % higher after the step."""
        return self.after / self.before - 1 if self.before else math.inf


def _noise(y: np.ndarray) -> float:
    """Robust sigma from consecutive differences (insensitive to a few steps)."""
    if y.size < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.diff(y))) / math.sqrt(2))


def _segment_costs(y: np.ndarray) -> np.ndarray:
    """cost[start, stop] = sum |y[start:stop] - median(y[start:stop])|, one vectorised pass per start."""
    n = y.size
    cost = np.full((n + 1, n + 1), math.inf)
    for start in range(n):
        tail = y[start:]
        m = tail.size
        grid = np.where(np.tri(m, dtype=bool), tail[None, :], np.nan)  # row k: y[start:start+k+1]
        medians = np.nanmedian(grid, axis=1)
        cost[start, start + 1:] = np.nansum(np.abs(grid - medians[:, None]), axis=1)
    return cost


def segments(values: Sequence[float], penalty: float | None = None, min_size: int = 2) -> list[Segment]:
    """Optimal L1 piecewise-constant segmentation; `penalty` defaults to 3·sigma·ln(n)."""
    y = np.asarray(values, float)
    n = y.size
    if n == 0:
        return []
    if penalty is None:
        floor = 1e-3 * float(np.median(np.abs(y)))
        penalty = 3 * max(_noise(y), floor) * math.log(max(n, 2))
    cost = _segment_costs(y)
    best = np.full(n + 1, math.inf)
    best[0] = -penalty
    cut = np.zeros(n + 1, int)
    min_size = min(min_size, n)
    for stop in range(min_size, n + 1):
        starts = np.arange(stop - min_size + 1)
        total = best[starts] + penalty + cost[starts, stop]
        cut[stop] = int(np.argmin(total))
        best[stop] = total[cut[stop]]
    bounds = []
    stop = n
    while stop > 0:
        bounds.append((cut[stop], stop))
        stop = cut[stop]
    return [Segment(int(a), int(b), float(np.median(y[a:b]))) for a, b in reversed(bounds)]


def detect_steps(values: Sequence[float], min_change: float = 0.0, penalty: float | None = None,
                 min_size: int = 2) -> list[Step]:
    """Steps between consecutive segments whose relative change is at least `min_change`."""
    return steps_between(segments(values, penalty, min_size), min_change)


def steps_between(segs: Sequence[Segment], min_change: float = 0.0) -> list[Step]:
    """Steps between consecutive segments whose relative change is at least `min_change`."""
    steps = [Step(b.start, a.level, b.level) for a, b in zip(segs, segs[1:])]
    return [s for s in steps if abs(s.change) >= min_change]
