from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.latency import latency_stats
from harness.analysis.stats import bootstrap_ci


def test_stats_match_numpy():
    rng = np.random.default_rng(3)
    values = rng.lognormal(0.0, 0.3, 500)
    stats = latency_stats(values)
    assert stats.n == 500
    assert stats.p50_ms == pytest.approx(np.median(values))
    assert stats.p99_ms == pytest.approx(np.percentile(values, 99))
    assert stats.stdev_ms == pytest.approx(values.std(ddof=1))
    assert stats.median_ci_low_ms <= stats.p50_ms <= stats.median_ci_high_ms


def test_ci_covers_true_median_and_narrows_with_n():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(40):
        sample = rng.normal(10.0, 1.0, 200)
        low, high = bootstrap_ci(sample, seed=trial)
        covered += low <= 10.0 <= high
    assert covered >= 34  # nominal 95 %: 38 of 40 expected
    small = bootstrap_ci(rng.normal(10, 1, 50))
    large = bootstrap_ci(rng.normal(10, 1, 5000))
    assert large[1] - large[0] < (small[1] - small[0]) / 4


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        latency_stats([])
