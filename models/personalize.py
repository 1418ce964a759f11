"""Personalization and evaluation through the exported TFLite signatures, on the host with LiteRT.

The same calls a phone makes: `train` one step at a time on the person's windows, then `infer`;
`get_weights`/`set_weights` keep the best weights seen. Everything a phone decides on the host side
(step budget, early stopping on held-back personalization windows, batch sampling, augmentation)
is a `Recipe`; the learning rate is baked into the artifact's `train` signature.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import numpy as np

__all__ = ["Session", "TrainLog", "Recipe", "Outcome", "accuracy", "cross_entropy", "holdout_mask", "personalize"]


@dataclasses.dataclass(frozen=True)
class TrainLog:
    losses: tuple[float, ...]
    step_seconds: tuple[float, ...]  # wall time of each `train` invoke

    @property
    def steps(self) -> int:
        return len(self.losses)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Host-side personalization settings (chosen on tuning subjects, stored in the manifest)."""

    steps: int = 100  # budget: most optimizer steps
    holdout: float = 0.0  # latest fraction of each activity's windows held back for early stopping; 0 = none
    check_every: int = 5  # steps between held-back loss checks
    patience: int = 3  # checks without a lower held-back loss before stopping (best weights are kept)
    balanced: bool = False  # batches draw classes uniformly
    augment: bool = False  # random circular time shift (<= 8 samples) and per-channel gain (sd 0.1)

    def __post_init__(self):
        if self.steps < 0 or not 0.0 <= self.holdout < 1.0 or self.check_every < 1 or self.patience < 1:
            raise ValueError(f"invalid recipe {self}")


@dataclasses.dataclass(frozen=True)
class Outcome:
    steps: int  # optimizer steps taken
    best_step: int  # steps of the weights kept (0 = the initial weights)
    log: TrainLog


def _batches(y: np.ndarray, batch: int, rng: np.random.Generator, balanced: bool) -> Iterator[np.ndarray]:
    """Indices of each batch: without replacement (reshuffled each epoch), or class-balanced."""
    if balanced:
        by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
        while True:
            yield np.array([rng.choice(by_class[c]) for c in rng.integers(len(by_class), size=batch)])
    order = np.empty(0, int)
    while True:
        while len(order) < batch:  # fewer windows than one batch: repeat them
            order = np.concatenate([order, rng.permutation(len(y))])
        yield order[:batch]
        order = order[batch:]


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shifts = rng.integers(-8, 9, size=len(x))
    gains = rng.normal(1.0, 0.1, size=(len(x), 1, x.shape[-1])).astype(np.float32)
    return np.stack([np.roll(w, s, axis=0) for w, s in zip(x, shifts)]) * gains


class Session:
    """A fresh LiteRT interpreter over one artifact: its own weights and optimizer state."""

    def __init__(self, model_bytes: bytes, *, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model_bytes, num_threads=threads)
        self._infer = self.interpreter.get_signature_runner("infer")

    def logits(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        outs = [self._infer(x=x[i:i + batch])["logits"] for i in range(0, len(x), batch)]
        return np.concatenate(outs)

    def train(self, x: np.ndarray, y: np.ndarray, *, steps: int, seed: int = 0, balanced: bool = False,
              augment: bool = False, plateau: int | None = None) -> TrainLog:
        """`steps` optimizer steps on batches of the person's windows.

        With `plateau`, stop once the mean training loss of the last `plateau` steps is no lower than
        that of the `plateau` steps before (the loss has stopped falling).
        """
        runner = self.interpreter.get_signature_runner("train")
        rng = np.random.default_rng(seed)
        batches = _batches(y, self.train_batch, rng, balanced)
        losses, seconds = [], []
        for _ in range(steps):
            idx = next(batches)
            xb = _augment(x[idx], rng) if augment else x[idx]
            start = time.perf_counter()
            loss = runner(x=xb, y=y[idx].astype(np.int32))["loss"]
            seconds.append(time.perf_counter() - start)
            losses.append(float(loss))
            if plateau and len(losses) >= 2 * plateau and \
                    np.mean(losses[-plateau:]) >= np.mean(losses[-2 * plateau:-plateau]):
                break
        return TrainLog(tuple(losses), tuple(seconds))

    @property
    def train_batch(self) -> int:
        details = self.interpreter.get_signature_runner("train").get_input_details()
        return int(details["x"]["shape"][0])

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self.interpreter.get_signature_runner("get_weights")().items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.interpreter.get_signature_runner("set_weights")(**weights)


def accuracy(session: Session, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(session.logits(x).argmax(axis=1) == y))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def holdout_mask(y: np.ndarray, start: np.ndarray, fraction: float) -> np.ndarray:
    """True for the latest `fraction` of each class's windows (by `start`): held back, never trained on.

    Chronological, like the test split, so the held-back loss sees the drift a later test sees;
    a random slice would share samples with overlapping training windows.
    """
    mask = np.zeros(len(y), bool)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[np.argsort(start[idx], kind="stable")]
        keep = int(round(len(idx) * fraction))
        if keep and keep < len(idx):
            mask[idx[-keep:]] = True
    return mask


def personalize(session: Session, x: np.ndarray, y: np.ndarray, start: np.ndarray, recipe: Recipe,
                *, seed: int = 0) -> Outcome:
    """Train `session` on one person's windows by `recipe`.

    With a held-back slice: check its loss every `check_every` steps (and before training), stop after
    `patience` checks without improvement, and keep the weights of the best check.
    """
    if not recipe.holdout:
        log = session.train(x, y, steps=recipe.steps, seed=seed, balanced=recipe.balanced, augment=recipe.augment)
        return Outcome(log.steps, log.steps, log)
    val = holdout_mask(y, start, recipe.holdout)
    xt, yt = x[~val], y[~val]
    best_loss, best_step, best = cross_entropy(session.logits(x[val]), y[val]), 0, session.get_weights()
    losses: list[float] = []
    seconds: list[float] = []
    stale = 0
    while len(losses) < recipe.steps and stale < recipe.patience:
        chunk = min(recipe.check_every, recipe.steps - len(losses))
        log = session.train(xt, yt, steps=chunk, seed=seed + len(losses), balanced=recipe.balanced,
                            augment=recipe.augment)
        losses += log.losses
        seconds += log.step_seconds
        loss = cross_entropy(session.logits(x[val]), y[val])
        if loss < best_loss:
            best_loss, best_step, best, stale = loss, len(losses), session.get_weights(), 0
        else:
            stale += 1
    session.set_weights(best)
    return Outcome(len(losses), best_step, TrainLog(tuple(losses), tuple(seconds)))
