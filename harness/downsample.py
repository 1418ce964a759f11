"""Largest-Triangle-Three-Buckets downsampling (Steinarsson 2013) for long telemetry traces.

Keeps the first and last point and, per bucket, the point forming the largest triangle with the
previously kept point and the next bucket's mean: peaks and steps survive, one hour at 100 Hz
becomes a few thousand points that a browser draws interactively.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lttb"]


def lttb(x: np.ndarray, y: np.ndarray, threshold: int) -> np.ndarray:
    """Indices of the kept points (sorted); all indices when there are at most `threshold` points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    if threshold >= n or threshold < 3:
        return np.arange(n)
    edges = np.linspace(1, n - 1, threshold - 1).astype(np.int64)  # threshold-2 buckets inside (0, n-1)
    kept = np.empty(threshold, np.int64)
    kept[0], kept[-1] = 0, n - 1
    a = 0
    for b in range(threshold - 2):
        lo, hi = edges[b], edges[b + 1]
        nxt_lo, nxt_hi = hi, edges[b + 2] if b + 2 < threshold - 1 else n
        cx, cy = x[nxt_lo:nxt_hi].mean(), y[nxt_lo:nxt_hi].mean()
        area = np.abs((x[a] - cx) * (y[lo:hi] - y[a]) - (x[a] - x[lo:hi]) * (cy - y[a]))
        a = lo + int(np.argmax(area))
        kept[b + 1] = a
    return kept
