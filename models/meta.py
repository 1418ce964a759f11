"""Reptile: a meta-learned initial value of the personalization parameters (Nichol et al., 2018).

Each episode personalizes a fresh LiteRT session of the artifact, started at the current
initialization theta, on one episode's examples (e.g. one person's) for `inner_steps` `train` steps (the same
signature the phone runs); theta then moves toward the adapted parameters phi:
theta <- theta + epsilon * (phi - theta), with epsilon annealed linearly to 0.
The episode pools are the caller's: people the global model trained on, never evaluation subjects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from models.personalize import Session

__all__ = ["ReptileConfig", "reptile"]


@dataclasses.dataclass(frozen=True)
class ReptileConfig:
    meta_steps: int = 48  # episodes (for HAR: 3 passes over the 16 population subjects)
    inner_steps: int = 5  # `train` steps per episode: the few-step regime the init is for
    epsilon: float = 0.5  # outer step size at the first episode
    windows: int = 112  # examples drawn per episode, about one person's personalization data


def reptile(blob: bytes, episodes: Sequence, config: ReptileConfig = ReptileConfig(),
            *, seed: int = 0) -> dict[str, np.ndarray]:
    """Meta-learned personalization parameters (signature name -> array) of artifact `blob`.

    `episodes`: pools of training examples, each with `.x`, `.y` and a length (e.g. HAR `Windows`)."""
    rng = np.random.default_rng(seed)
    theta = Session(blob).get_weights()
    for step in range(config.meta_steps):
        pool = episodes[rng.integers(len(episodes))]
        idx = rng.choice(len(pool), min(config.windows, len(pool)), replace=False)
        session = Session(blob)  # fresh optimizer state per episode
        session.set_weights(theta)
        session.train(pool.x[idx], pool.y[idx], steps=config.inner_steps, seed=int(rng.integers(2**31)))
        phi = session.get_weights()
        epsilon = config.epsilon * (1 - step / config.meta_steps)
        theta = {k: theta[k] + epsilon * (phi[k] - theta[k]) for k in theta}
    return theta
