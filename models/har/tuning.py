"""Personalization recipes chosen on a fold's tuning people only, never on its held-out people.

For each technique: the learning rate (`LR_GRID`) and the host-side `Recipe`: a fixed budget of 0
(no training), 20 or 100 steps, or early stopping within 100 steps on the latest 25% of each
activity's personalization windows (the person's own held-back windows, as a phone would). The
score is the mean accuracy over the tuning people's tests where a person needs personalization as
much as anywhere: same trial, other trial, and their rotated sensor frame (`models.har.shifts`).
"No training" is a candidate, so a recipe trains only when training helps the tuning people.
Cached as JSON with every score, per technique, fold and seed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.har import data
from models.har.folds import Fold
from models.har.global_model import EPOCHS, SOURCES
from models.har.shifts import rotated_split
from models.personalize import Outcome, Recipe, Session, accuracy, personalize

__all__ = ["LR_GRID", "RECIPES", "TUNING_SOURCES", "Tuned", "tuning_key", "person_seed", "run_recipe", "tune"]

LR_GRID = (0.003, 0.01, 0.03)
RECIPES = (Recipe(steps=0), Recipe(steps=20), Recipe(steps=100),
           Recipe(steps=100, holdout=0.25, check_every=5, patience=3))
# the modules a tuning result depends on (so edits elsewhere in models/ do not re-tune)
TUNING_SOURCES = ("personalize.py", "export.py", "peft.py", *SOURCES, "har/tuning.py", "har/variants.py",
                  "har/trainer.py", "har/shifts.py")


@dataclasses.dataclass(frozen=True)
class Tuned:
    learning_rate: float
    recipe: Recipe
    score: float  # mean tuning accuracy of the choice
    subjects: tuple[int, ...]  # the tuning people


def tuning_key(technique: str, epochs: int = EPOCHS, optimizer: str = "sgd") -> str:
    """The tuning-cache key of a technique on global models of `epochs` (shared by the zoo and the evaluation)."""
    return f"{technique}-{optimizer}-e{epochs}"


def person_seed(seed: int, subject: int) -> int:
    """The batch-order seed of one person's personalization under evaluation seed `seed`."""
    return 1000 * seed + subject


def run_recipe(session: Session, split: data.PersonalSplit, recipe: Recipe, seed: int) -> tuple[Outcome, dict]:
    """Personalize `session` on the split's personalization windows; (outcome, {same, other: accuracy})."""
    outcome = personalize(session, split.personal.x, split.personal.y, split.personal.start, recipe, seed=seed)
    return outcome, {"same": accuracy(session, split.same_trial_test.x, split.same_trial_test.y),
                     "other": accuracy(session, split.cross_placement_test.x, split.cross_placement_test.y)}


def _score(sessions: Callable[[float], Session], fold: Fold, seed: int, lr: float, recipe: Recipe) -> float:
    accs = []
    for subject in fold.tuning:
        split = data.personal_split(subject)
        accs += run_recipe(sessions(lr), split, recipe, person_seed(seed, subject))[1].values()
        accs.append(run_recipe(sessions(lr), rotated_split(split), recipe, person_seed(seed, subject))[1]["same"])
    return float(np.mean(accs))


def tune(key: str, sessions: Callable[[], Callable[[float], Session]], fold: Fold, seed: int) -> Tuned:
    """Best (learning rate, recipe) of the technique `key` on the fold's tuning people.

    `sessions()` gives a function lr -> a fresh session at the global weights (built only when the
    result is not cached)."""
    if set(fold.tuning) & set(fold.held_out):
        raise ValueError(f"tuning people {fold.tuning} overlap the held-out people {fold.held_out}")
    path = cache_root() / "tuning" / f"har-{key.replace('/', '__')}-{fold.name}-seed{seed}-" \
                                     f"{source_hash(*TUNING_SOURCES)[:16]}.json"
    if not path.exists():
        make = sessions()
        scores = {(lr, i): _score(make, fold, seed, lr, r) for lr in LR_GRID for i, r in enumerate(RECIPES)}
        # ties go to the earlier (shorter) recipe and the smaller learning rate
        lr, i = max(scores, key=lambda k: (round(scores[k], 6), -k[1], -k[0]))
        record = {"learning_rate": lr, "recipe": dataclasses.asdict(RECIPES[i]), "score": scores[lr, i],
                  "subjects": list(fold.tuning),
                  "scores": [{"learning_rate": k[0], "recipe": dataclasses.asdict(RECIPES[k[1]]), "score": v}
                             for k, v in scores.items()]}
        atomic_write_bytes(path, json.dumps(record, indent=2, sort_keys=True).encode())
    record = json.loads(path.read_text())
    return Tuned(record["learning_rate"], Recipe(**record["recipe"]), record["score"], tuple(record["subjects"]))
