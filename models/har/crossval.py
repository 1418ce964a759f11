"""One fold and seed of the cross-validated HAR evaluation: per-person accuracies, cached as JSON.

For the fold's seed-`seed` global model (`fold_weights`) and each of its held-out people: the global
accuracy on every shift (`models.har.shifts`) and on the person's own personalization windows; each
technique's accuracy after personalization by the recipe tuned on the fold's tuning people (on the
fold's seed-0 model: a recipe belongs to the fold); with `compression`, the global model's accuracy
in int8 (post-training), mixed int8/float and QAT int8 (LiteRT), and after the same extra fine-tuning
budget dense and 50%-pruned; with `early_exit`, the cascade's per-person exit fraction and accuracy
at every threshold and the threshold chosen on the tuning people.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable

import numpy as np

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.har import data
from models.har.folds import Fold
from models.har.global_model import EPOCHS, GLOBAL, build_model, fold_weights, load_weights
from models.har.shifts import rotated_split
from models.har.trainer import Trainer
from models.har.tuning import TUNING_SOURCES, person_seed, run_recipe, tune, tuning_key
from models.weights import Weights

__all__ = ["TECHNIQUES", "PRUNE_RATIO", "Config", "FULL", "fold_seed"]

TECHNIQUES = ("last-layer", "bitfit", "adapter", "lora", "full")
PRUNE_RATIO = 0.5
_SOURCES = (*TUNING_SOURCES, "har/crossval.py", "har/early_exit.py", "har/pruning.py", "har/qat.py", "pruning.py",
            "qat.py", "quantize.py", "mixed_precision.py", "har/zoo_entries.py", "har/zoo_compression.py")


@dataclasses.dataclass(frozen=True)
class Config:
    folds: tuple[int, ...] = (0, 1, 2)
    seeds: tuple[int, ...] = (0, 1, 2)  # global model and personalization seeds
    people: int = 10  # the first N held-out people of each fold
    techniques: tuple[str, ...] = TECHNIQUES
    compression: bool = True
    early_exit: bool = True
    epochs: int = EPOCHS  # of the global model, at most

    def __post_init__(self):
        if not self.folds or not self.seeds or not 1 <= self.people <= 10 or "full" not in self.techniques:
            raise ValueError(f"invalid evaluation config {self} (full fine-tuning is the reference)")


FULL = Config()


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == y))


def _tests(split: data.PersonalSplit) -> dict[str, data.Windows]:
    return {"same": split.same_trial_test, "other": split.cross_placement_test, "personal": split.personal,
            "rotated": rotated_split(split).same_trial_test}


def _global(weights: Weights, splits, arch=GLOBAL) -> dict[str, list[float]]:
    """test -> per-person accuracy of the Keras model (same, other, personal windows, rotated same trial)."""
    model = build_model(arch)
    load_weights(model, weights)
    out: dict[str, list[float]] = {}
    for split in splits:
        for name, w in _tests(split).items():
            out.setdefault(name, []).append(_accuracy(model.predict(w.x, batch_size=512, verbose=0), w.y))
    return out


def _technique(technique: str, weights: Weights, fold: Fold, seed: int, config: Config, splits) -> dict:
    tuned = tune(tuning_key(technique, config.epochs),
                 lambda: Trainer(technique, fold_weights(fold, 0, epochs=config.epochs)).session, fold, 0)
    trainer = Trainer(technique, weights, seed=seed)
    out: dict = {"learning_rate": tuned.learning_rate, "recipe": dataclasses.asdict(tuned.recipe),
                 "tuning_score": tuned.score, "same": [], "other": [], "rotated": [], "steps": [], "steps_rotated": []}
    for split in splits:
        outcome, acc = run_recipe(trainer.session(tuned.learning_rate), split, tuned.recipe,
                                  person_seed(seed, split.subject))
        turned, acc_rot = run_recipe(trainer.session(tuned.learning_rate), rotated_split(split), tuned.recipe,
                                     person_seed(seed, split.subject))
        for key, value in (("same", acc["same"]), ("other", acc["other"]), ("rotated", acc_rot["same"]),
                           ("steps", outcome.steps), ("steps_rotated", turned.steps)):
            out[key].append(value)
    return out


def _tflite_accuracies(blob: bytes, splits) -> dict[str, list[float]]:
    from models.personalize import Session, accuracy

    session = Session(blob)
    return {c: [accuracy(session, _tests(s)[c].x, _tests(s)[c].y) for s in splits] for c in ("same", "other")}


def _int8(weights: Weights, fold: Fold, sweep_windows: np.ndarray | None = None) -> tuple[bytes, tuple[str, ...]]:
    """(full int8 bytes, or with `sweep_windows` the mixed int8/float bytes, float layers) of `weights`."""
    from models.har.zoo_compression import SWEPT_LAYERS
    from models.har.zoo_entries import representative_windows
    from models.mixed_precision import calibrated, quantize, sweep

    model = build_model()
    load_weights(model, weights)
    calib = calibrated(model, representative_windows(fold.train))
    if sweep_windows is None:
        return quantize(calib), ()
    # the calibrated model computes in float: it is the float32 reference of the sweep
    chosen = sweep(calib, calib, sweep_windows, SWEPT_LAYERS).chosen
    return quantize(calib, chosen), chosen


def _compression(weights: Weights, fold: Fold, seed: int, splits) -> dict:
    from models.har.pruning import fine_tune, prune
    from models.har.qat import qat_fine_tune

    def keras(arch, w):
        accs = _global(w, splits, arch)
        return {"same": accs["same"], "other": accs["other"]}

    int8, _ = _int8(weights, fold)
    tuning_x = data.subject_windows(fold.tuning).x[::6]
    mixed, float_layers = _int8(weights, fold, tuning_x)
    qat, _ = _int8(qat_fine_tune(weights, fold, seed), fold)
    pruned_arch, pruned = prune(weights, PRUNE_RATIO)
    return {
        "int8": {**_tflite_accuracies(int8, splits), "model_bytes": len(int8)},
        "int8-mixed": {**_tflite_accuracies(mixed, splits), "model_bytes": len(mixed),
                       "float_layers": list(float_layers)},
        "int8-qat": {**_tflite_accuracies(qat, splits), "model_bytes": len(qat)},
        "dense-ft": keras(GLOBAL, fine_tune(GLOBAL, weights, fold, seed)),
        "prune50-ft": {**keras(pruned_arch, fine_tune(pruned_arch, pruned, fold, seed)),
                       "arch": dataclasses.asdict(pruned_arch)},
    }


def _early_exit(weights: Weights, fold: Fold, seed: int, people) -> dict:
    from models.har.early_exit import THRESHOLDS, cascade_point, choose_threshold, keras_cascade, train_exit

    full = {**weights, "exit1": train_exit(weights, fold, seed)}
    tuning = data.subject_windows(fold.tuning)
    chosen, table = choose_threshold(*keras_cascade(full, tuning.x), tuning.y)
    held = data.subject_windows(people)
    probs, logits = keras_cascade(full, held.x)
    out: dict = {"chosen": chosen, "tuning": table, "full": [], "exit": {str(t): [] for t in THRESHOLDS},
                 "accuracy": {str(t): [] for t in THRESHOLDS}}
    for person in people:
        mine = held.subject == person
        out["full"].append(_accuracy(logits[mine], held.y[mine]))
        for t in THRESHOLDS:
            fraction, acc = cascade_point(probs[mine], logits[mine], held.y[mine], t)
            out["exit"][str(t)].append(fraction)
            out["accuracy"][str(t)].append(acc)
    return out


def _compute(fold: Fold, seed: int, config: Config, progress: Callable[[str], None]) -> dict:
    people = fold.held_out[:config.people]
    where = f"{fold.name} seed {seed}"
    progress(f"{where}: global model")
    weights = fold_weights(fold, seed, epochs=config.epochs)
    splits = [data.personal_split(s) for s in people]
    out: dict = {"fold": fold.index, "seed": seed, "people": list(people), "global": _global(weights, splits),
                 "techniques": {}}
    for technique in config.techniques:
        progress(f"{where}: tuning and personalizing {technique}")
        out["techniques"][technique] = _technique(technique, weights, fold, seed, config, splits)
    if config.compression:
        progress(f"{where}: int8, mixed, QAT, pruned vs dense")
        out["compression"] = _compression(weights, fold, seed, splits)
    if config.early_exit:
        progress(f"{where}: early-exit sweep")
        out["early_exit"] = _early_exit(weights, fold, seed, people)
    return out


def fold_seed(fold: Fold, seed: int, config: Config = FULL,
              progress: Callable[[str], None] = lambda _msg: None) -> tuple[dict, bool]:
    """(the per-person results of `fold` and `seed` under `config` with the wall seconds they took to
    compute, whether they came from the cache)."""
    scope = dataclasses.asdict(dataclasses.replace(config, folds=(fold.index,), seeds=(seed,)))
    tag = hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_root() / "eval" / f"har-{fold.name}-seed{seed}-{tag}-{source_hash(*_SOURCES)[:16]}.json"
    if path.exists():
        return json.loads(path.read_text()), True
    start = time.perf_counter()
    result = {**_compute(fold, seed, config, progress), "seconds": time.perf_counter() - start}
    atomic_write_bytes(path, json.dumps(result, sort_keys=True).encode())
    return result, False
