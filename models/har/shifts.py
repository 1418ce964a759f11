"""The per-person shifts personalization is tested on, each named by what it is.

- `same trial`: real; personalize on the earlier half of each activity of trial 1 (phone fixed on the
  belt), test on its later half;
- `other trial`: real; the same personalized model tested on trial 2 (phone placed where the person liked);
- `served badly`: real; `same trial` restricted to the third of the people whose global accuracy on
  their own personalization windows (what a phone can measure) is lowest;
- `rotated (simulated)`: every window of a person turned by one fixed random rotation of the sensor
  frame (accelerometer and gyroscope alike, as a phone carried differently), seeded by the person;
  personalized and tested like `same trial`.
"""

from __future__ import annotations

import numpy as np

from models.har import data

__all__ = ["SHIFTS", "SAME", "OTHER", "BADLY", "ROTATED", "BADLY_SHARE", "rotation", "rotate", "rotated_split"]

SAME, OTHER, BADLY, ROTATED = "same trial", "other trial", "served badly", "rotated (simulated)"
SHIFTS = (SAME, OTHER, BADLY, ROTATED)
BADLY_SHARE = 1 / 3  # share of the people counted as served badly
_ROTATION_SEED = 7_000


def rotation(subject: int) -> np.ndarray:
    """A uniformly random 3 x 3 rotation (det +1), fixed per person."""
    q, r = np.linalg.qr(np.random.default_rng(_ROTATION_SEED + subject).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return (q if np.linalg.det(q) > 0 else -q).astype(np.float32)


def rotate(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Windows (n, T, 6) with the accelerometer and gyroscope triplets turned by `matrix`."""
    return np.concatenate([x[..., :3] @ matrix.T, x[..., 3:] @ matrix.T], axis=-1).astype(np.float32)


def _turned(w: data.Windows, matrix: np.ndarray) -> data.Windows:
    return data.Windows(rotate(w.x, matrix), w.y, w.subject, w.trial, w.start)


def rotated_split(split: data.PersonalSplit) -> data.PersonalSplit:
    """The person's split with every window in the person's rotated sensor frame."""
    matrix = rotation(split.subject)
    return data.PersonalSplit(split.subject, _turned(split.personal, matrix), _turned(split.same_trial_test, matrix),
                              _turned(split.cross_placement_test, matrix))
