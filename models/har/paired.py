"""The two test conditions of a held-out subject, for every HAR table (paired statistics: `models.paired`)."""

from __future__ import annotations

import numpy as np

from models.personalize import Session, accuracy

__all__ = ["CONDITIONS", "condition_tests", "accuracies", "subject_accuracies"]

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

