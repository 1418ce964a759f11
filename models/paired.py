"""Paired per-person statistics shared by every task's evaluation (HAR subjects, keyboard users).

One value per person and condition (after, before); the gain is their difference. Intervals: the
percentile bootstrap of the mean gain (`paired_gain`) and Student's t interval (`t_interval`); tests:
the paired sign-flip permutation test of the mean gain (`sign_flip_p`, exact up to 16 people, else
20,000 seeded random flips), adjusted over a family of comparisons by Holm's step-down method (`holm`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from harness.analysis.stats import bootstrap_ci, t_quantile

__all__ = ["sd", "paired_gain", "t_interval", "sign_flip_p", "holm", "PairedTest", "paired_test"]

_EXACT_UP_TO = 16
_RANDOM_FLIPS = 20_000


def sd(a: np.ndarray) -> float:
    """Sample standard deviation over people (0 for one person)."""
    return float(a.std(ddof=1)) if len(a) > 1 else 0.0


def paired_gain(after: np.ndarray, before: np.ndarray) -> tuple[float, tuple[float, float], int]:
    """(mean of after - before, its percentile-bootstrap 95% CI, people with after > before), paired per person."""
    gain = after - before
    return float(gain.mean()), bootstrap_ci(gain, np.mean, resamples=10_000), int((gain > 0).sum())


def t_interval(gain: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean of `gain` (the mean itself, twice, for one person)."""
    mean = float(np.mean(gain))
    if len(gain) < 2:
        return mean, mean
    half = t_quantile(0.5 + confidence / 2, len(gain) - 1) * sd(gain) / np.sqrt(len(gain))
    return mean - half, mean + half


def sign_flip_p(gain: np.ndarray, seed: int = 0) -> float:
    """Two-sided p-value of mean(gain) = 0 under random sign flips of the per-person gains."""
    gain = np.asarray(gain, float)
    observed = abs(gain.mean())
    if len(gain) <= _EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(gain))))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(_RANDOM_FLIPS, len(gain)))
    extreme = np.abs(signs @ gain / len(gain)) >= observed - 1e-12
    # a random sample counts the observed labelling once more, so p is never 0
    return float(extreme.mean()) if len(gain) <= _EXACT_UP_TO else float((extreme.sum() + 1) / (len(signs) + 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given)."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """One paired comparison over people (gain = after - before, in the metric's own units)."""

    people: int
    mean: float
    t_ci: tuple[float, float]  # Student's t 95% interval of the mean gain
    p: float  # sign-flip, two-sided
    improved: int  # people with a gain > 0 (of `people`)


def paired_test(after: np.ndarray, before: np.ndarray) -> PairedTest:
    gain = np.asarray(after, float) - np.asarray(before, float)
    return PairedTest(len(gain), float(gain.mean()), t_interval(gain), sign_flip_p(gain), int((gain > 0).sum()))
