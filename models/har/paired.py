"""The two test conditions of a held-out subject and paired per-subject statistics, for every HAR table."""

from __future__ import annotations

import numpy as np

from harness.analysis.stats import bootstrap_ci
from models.personalize import Session, accuracy

__all__ = ["CONDITIONS", "condition_tests", "accuracies", "subject_accuracies", "sd", "paired_gain"]

CONDITIONS = ("same-trial", "cross-placement")


def condition_tests(split) -> dict:
    """condition -> test windows of a `data.PersonalSplit` (or `transfer_data.TransferSplit`)."""
    return {"same-trial": split.same_trial_test, "cross-placement": split.cross_placement_test}


def accuracies(session: Session, split) -> dict[str, float]:
    """condition -> accuracy of `session` on that test of a `data.PersonalSplit`."""
    return {c: accuracy(session, t.x, t.y) for c, t in condition_tests(split).items()}


def subject_accuracies(session: Session, splits) -> dict[str, np.ndarray]:
    """condition -> accuracy of `session` on each split's test, one entry per subject."""
    per_subject = [accuracies(session, s) for s in splits]
    return {c: np.array([a[c] for a in per_subject]) for c in CONDITIONS}


def sd(a: np.ndarray) -> float:
    """Sample standard deviation over subjects (0 for one subject)."""
    return float(a.std(ddof=1)) if len(a) > 1 else 0.0


def paired_gain(after: np.ndarray, before: np.ndarray) -> tuple[float, tuple[float, float], int]:
    """(mean of after - before, its percentile-bootstrap 95% CI, subjects with after > before), paired per subject."""
    gain = after - before
    return float(gain.mean()), bootstrap_ci(gain, np.mean, resamples=10_000), int((gain > 0).sum())
