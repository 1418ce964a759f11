"""Step detection on seeded synthetic histories."""

from __future__ import annotations

import numpy as np
import pytest

from harness.steps import detect_steps, segments


def test_flat_noisy_history_has_no_step():
    y = np.random.default_rng(1).normal(10.0, 0.2, 80)
    assert detect_steps(y, min_change=0.05) == []


def test_ten_percent_step_is_found_where_it_happened():
    rng = np.random.default_rng(2)
    y = np.concatenate([rng.normal(10.0, 0.2, 50), rng.normal(11.0, 0.2, 50)])
    steps = detect_steps(y, min_change=0.05)
    assert len(steps) == 1
    assert abs(steps[0].index - 50) <= 1
    assert steps[0].change == pytest.approx(0.10, abs=0.02)


def test_step_up_and_back_down():
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(5, 0.05, 30), rng.normal(6, 0.05, 20), rng.normal(5, 0.05, 30)])
    steps = detect_steps(y, min_change=0.05)
    assert [s.index for s in steps] == [30, 50]
    assert steps[0].change > 0 > steps[1].change


def test_single_outlier_is_not_a_step():
    y = np.full(40, 3.0) + np.random.default_rng(4).normal(0, 0.03, 40)
    y[20] = 6.0
    assert detect_steps(y, min_change=0.05) == []


def test_segments_cover_the_series():
    segs = segments([1.0, 1.0, 1.0, 5.0, 5.0, 5.0], penalty=0.5)
    assert [(s.start, s.stop, s.level) for s in segs] == [(0, 3, 1.0), (3, 6, 5.0)]
    assert segments([]) == []
