"""Hyper-parameters chosen on the tuning subjects (17-20) only, never on held-out test data.

For each technique, the learning rate whose personalized accuracy (mean over the tuning subjects'
same-trial and cross-placement tests after `STEPS` steps) is highest; cached as JSON.
"""

from __future__ import annotations

import json

import numpy as np

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.har import data

__all__ = ["LR_GRID", "tuned_lr", "personalized_accuracy"]

LR_GRID = (0.003, 0.01, 0.03)


def personalized_accuracy(blob: bytes, subject: int, steps: int, seed: int = 0) -> tuple[float, float]:
    """(same-trial, cross-placement) accuracy of `subject` after `steps` train steps on its data."""
    from models.personalize import Session, accuracy

    split = data.personal_split(subject)
    session = Session(blob)
    session.train(split.personal.x, split.personal.y, steps=steps, seed=seed)
    return (accuracy(session, split.same_trial_test.x, split.same_trial_test.y),
            accuracy(session, split.cross_placement_test.x, split.cross_placement_test.y))


def tuned_lr(key: str, export, steps: int) -> float:
    """Best learning rate for the variant family `key`; `export(lr) -> tflite bytes`."""
    path = cache_root() / "tuning" / f"{key.replace('/', '__')}-{source_hash()[:16]}.json"
    if path.exists():
        return float(json.loads(path.read_text())["learning_rate"])
    scores = {}
    for lr in LR_GRID:
        blob = export(lr)
        scores[lr] = float(np.mean([personalized_accuracy(blob, s, steps) for s in data.TUNING]))
    best = max(scores, key=scores.get)
    record = {"learning_rate": best, "scores": {str(k): v for k, v in scores.items()}, "subjects": list(data.TUNING)}
    atomic_write_bytes(path, json.dumps(record, indent=2, sort_keys=True).encode())
    return best
