"""The few-step curve: accuracy on the other trial after 1, 5, 20 and 100 fixed steps (no early stopping),
at each technique's tuned learning rate, per fold and seed; cached as JSON.

`harness simulate-day` reads its mean from `models/RESULTS.md` (accuracy after N updates of a day).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.har import data
from models.har.crossval import Config
from models.har.folds import Fold
from models.har.global_model import fold_weights
from models.har.trainer import Trainer
from models.har.tuning import TUNING_SOURCES, person_seed, tune, tuning_key
from models.personalize import accuracy

__all__ = ["CURVE_STEPS", "fold_seed_curve"]

CURVE_STEPS = (1, 5, 20, 100)


def _compute(fold: Fold, seed: int, config: Config) -> dict:
    weights = fold_weights(fold, seed, epochs=config.epochs)
    splits = [data.personal_split(s) for s in fold.held_out[:config.people]]
    out = {}
    for technique in config.techniques:
        lr = tune(tuning_key(technique, config.epochs),
                  lambda t=technique: Trainer(t, fold_weights(fold, 0, epochs=config.epochs)).session,
                  fold, 0).learning_rate
        trainer = Trainer(technique, weights, seed=seed)
        points: dict[str, list[float]] = {str(n): [] for n in (0, *CURVE_STEPS)}
        for split in splits:
            session, done, test = trainer.session(lr), 0, split.cross_placement_test
            points["0"].append(accuracy(session, test.x, test.y))
            for n in CURVE_STEPS:
                session.train(split.personal.x, split.personal.y, steps=n - done,
                              seed=person_seed(seed, split.subject) + done)
                done = n
                points[str(n)].append(accuracy(session, test.x, test.y))
        out[technique] = {"learning_rate": lr, "accuracy": points}
    return out


def fold_seed_curve(fold: Fold, seed: int, config: Config) -> dict:
    """{techniques: technique -> {learning_rate, accuracy: {steps: per-person accuracy on the other trial}}
    (steps 0: the global model), seconds: to compute}."""
    scope = dataclasses.asdict(dataclasses.replace(config, folds=(fold.index,), seeds=(seed,)))
    tag = hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()[:12]
    key = source_hash(*TUNING_SOURCES, "har/curve.py")[:16]
    path = cache_root() / "eval" / f"har-curve-{fold.name}-seed{seed}-{tag}-{key}.json"
    if not path.exists():
        start = time.perf_counter()
        result = {"techniques": _compute(fold, seed, config), "seconds": time.perf_counter() - start}
        atomic_write_bytes(path, json.dumps(result, sort_keys=True).encode())
    return json.loads(path.read_text())
