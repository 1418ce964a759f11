"""Personalizing one user through an artifact's LiteRT signatures: the batch recipe, the degradation guard,
and continual learning over a simulated stream of the user's text.

- **Recipe**: `epochs` passes over the user's personalization examples (in-vocabulary targets), in
  batches of the artifact's train batch, at most `max_steps` steps; the batch order is the seed's.
- **Guard**: after an update, top-1 accuracy on a small generic probe set (tuning plays); if it fell
  below the base's by more than `margin`, the previous delta is put back (`set_weights`).
- **Stream**: the personalization examples arrive in chunks of `chunk` words in time order; every
  `every` chunks an update round of at most `round_steps` steps runs on the chunks since the last round,
  plus, with replay, a buffer of `replay` exemplars (token-id windows stored as uint16, seeded with
  generic exemplars, then reservoir-sampled from the stream); a round stops early once its loss
  flattens (mean of the last `plateau` steps no lower than of the `plateau` before).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models.keyboard.data import Examples
from models.personalize import Session, TrainLog

__all__ = ["Recipe", "personalize", "top1", "Guard", "Stream", "StreamResult", "run_stream"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    epochs: int = 3
    max_steps: int = 300

    def steps(self, examples: int, batch: int) -> int:
        return min(self.max_steps, self.epochs * -(-examples // batch))


def personalize(session: Session, personal: Examples, recipe: Recipe, seed: int) -> TrainLog:
    """Train `session` on the user's in-vocabulary examples by `recipe`."""
    known = personal.known()
    return session.train(known.x, known.y, steps=recipe.steps(len(known), session.train_batch), seed=seed)


def top1(session: Session, examples: Examples) -> float:
    return float(np.mean(session.logits(examples.x).argmax(axis=1) == examples.y))


class Guard:
    """Rolls an update back when generic top-1 falls more than `margin` below the base's."""

    def __init__(self, session: Session, probe: Examples, margin: float):
        self.session, self.probe, self.margin = session, probe, margin
        self.base = top1(session, probe)
        self.rollbacks = 0

    def update(self, x: np.ndarray, y: np.ndarray, *, steps: int, seed: int,
               plateau: int | None = None) -> tuple[bool, int]:
        """Train, check, keep or roll back: (kept, steps taken)."""
        previous = self.session.get_weights()
        taken = self.session.train(x, y, steps=steps, seed=seed, plateau=plateau).steps
        if top1(self.session, self.probe) < self.base - self.margin:
            self.session.set_weights(previous)
            self.rollbacks += 1
            return False, taken
        return True, taken


@dataclasses.dataclass(frozen=True)
class Stream:
    name: str
    chunk: int = 64  # words per interaction batch
    every: int = 1  # update after every N chunks
    round_steps: int = 8
    replay: int = 0  # exemplars kept; 0 = no replay
    plateau: int = 2


@dataclasses.dataclass(frozen=True)
class StreamResult:
    steps: int  # optimizer steps over the whole stream
    rounds: int
    rollbacks: int


def run_stream(session: Session, personal: Examples, stream: Stream, generic: Examples, guard: Guard,
               seed: int) -> StreamResult:
    """Feed the user's personalization examples to `session` as `stream` does; `generic` seeds the replay buffer."""
    known = personal.known()
    rng = np.random.default_rng(seed)
    buffer_x = generic.x[:stream.replay].astype(np.uint16)
    buffer_y = generic.y[:stream.replay].astype(np.uint16)
    seen = 0
    pending: list[int] = []
    steps = rounds = 0
    for start in range(0, len(known), stream.chunk):
        idx = list(range(start, min(start + stream.chunk, len(known))))
        pending += idx
        if (start // stream.chunk + 1) % stream.every and start + stream.chunk < len(known):
            continue
        x = np.concatenate([known.x[pending], buffer_x.astype(np.float32)])
        y = np.concatenate([known.y[pending], buffer_y.astype(np.int32)])
        _, taken = guard.update(x, y, steps=stream.round_steps, seed=seed + rounds, plateau=stream.plateau)
        steps, rounds = steps + taken, rounds + 1
        for i in pending if stream.replay else ():  # reservoir sampling over the user's stream
            seen += 1
            slot = rng.integers(seen + stream.replay)
            if slot < stream.replay:
                buffer_x[slot], buffer_y[slot] = known.x[i], known.y[i]
        pending = []
    return StreamResult(steps, rounds, guard.rollbacks)
