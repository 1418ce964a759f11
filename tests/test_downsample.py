"""LTTB keeps shape features and bounds the point count."""

from __future__ import annotations

import numpy as np

from harness.downsample import lttb


def test_short_series_untouched():
    assert list(lttb(np.arange(5), np.arange(5), 10)) == [0, 1, 2, 3, 4]


def test_one_hour_at_100_hz_to_2000_points_keeps_the_spike_and_ends():
    n = 3600 * 100
    x = np.arange(n) / 100
    y = np.random.default_rng(0).normal(1.0, 0.01, n)
    y[123_456] = 9.0
    kept = lttb(x, y, 2000)
    assert kept.size == 2000
    assert kept[0] == 0 and kept[-1] == n - 1
    assert np.all(np.diff(kept) > 0)
    assert 123_456 in kept


def test_step_edge_survives():
    y = np.r_[np.zeros(500), np.ones(500)]
    kept = lttb(np.arange(1000), y, 50)
    assert {499, 500} & set(kept.tolist())
