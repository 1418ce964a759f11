"""Hyper-parameters chosen on the tuning subjects (17-20) only, never on held-out test data.

For each technique: the learning rate (baked into the artifact) and the host-side `Recipe` (step
budget, early stopping on held-back personalization windows, class-balanced batches, augmentation)
whose personalized accuracy, averaged over the tuning subjects' same-trial and cross-placement tests,
is highest. Every candidate trains (early stopping may still keep the initial weights).
Cached as JSON with every score.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence

import numpy as np

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.har import data
from models.har.global_model import SOURCES
from models.personalize import Recipe

__all__ = ["LR_GRID", "RECIPES", "Tuned", "check_tuning_subjects", "personalized_accuracy", "tune"]

LR_GRID = (0.001, 0.003, 0.01)
_EARLY = dict(steps=100, holdout=0.25, check_every=5, patience=3)
RECIPES = (
    Recipe(steps=5), Recipe(steps=20), Recipe(steps=100),
    Recipe(**_EARLY), Recipe(**_EARLY, balanced=True), Recipe(**_EARLY, augment=True),
    Recipe(**_EARLY, balanced=True, augment=True),
)


# the modules a tuning result depends on (so edits elsewhere in models/ do not re-tune)
_RECIPE_SOURCES = ("personalize.py", "export.py", "manifest.py", "peft.py", *SOURCES, "har/tuning.py",
                   "har/variants.py")


@dataclasses.dataclass(frozen=True)
class Tuned:
    learning_rate: float
    recipe: Recipe
    score: float  # mean tuning accuracy of the choice
    subjects: tuple[int, ...]


def check_tuning_subjects(subjects: Sequence[int]) -> None:
    """Refuse anything but tuning subjects: hyper-parameters never see held-out (or population) data."""
    if not subjects or any(s not in data.TUNING for s in subjects):
        raise ValueError(f"tuning uses only tuning subjects {data.TUNING}, got {list(subjects)}")


def personalized_accuracy(blob: bytes, subject: int, recipe: Recipe, seed: int = 0) -> tuple[float, float]:
    """(same-trial, cross-placement) accuracy of `subject` after personalizing by `recipe`."""
    from models.personalize import Session, accuracy, personalize

    split = data.personal_split(subject)
    session = Session(blob)
    personalize(session, split.personal.x, split.personal.y, split.personal.start, recipe, seed=seed)
    return (accuracy(session, split.same_trial_test.x, split.same_trial_test.y),
            accuracy(session, split.cross_placement_test.x, split.cross_placement_test.y))


def _search(export: Callable[[float], bytes], subjects: Sequence[int]) -> dict[tuple[float, int], float]:
    check_tuning_subjects(subjects)
    scores = {}
    for lr in LR_GRID:
        blob = export(lr)
        for i, recipe in enumerate(RECIPES):
            scores[lr, i] = float(np.mean([personalized_accuracy(blob, s, recipe, seed=s) for s in subjects]))
    return scores


def tune(key: str, export: Callable[[float], bytes], subjects: Sequence[int] = data.TUNING) -> Tuned:
    """Best (learning rate, recipe) for the variant family `key`; `export(lr) -> tflite bytes`."""
    check_tuning_subjects(subjects)
    path = cache_root() / "tuning" / f"{key.replace('/', '__')}-recipe-{source_hash(*_RECIPE_SOURCES)[:16]}.json"
    if path.exists():
        record = json.loads(path.read_text())
    else:
        scores = _search(export, subjects)
        # ties go to the earlier (simpler) recipe and the smaller learning rate
        lr, i = max(scores, key=lambda k: (round(scores[k], 6), -k[1], -k[0]))
        record = {"learning_rate": lr, "recipe": dataclasses.asdict(RECIPES[i]), "score": scores[lr, i],
                  "subjects": list(subjects),
                  "scores": [{"learning_rate": k[0], "recipe": dataclasses.asdict(RECIPES[k[1]]), "score": v}
                             for k, v in scores.items()]}
        atomic_write_bytes(path, json.dumps(record, indent=2, sort_keys=True).encode())
    return Tuned(record["learning_rate"], Recipe(**record["recipe"]), record["score"], tuple(record["subjects"]))
