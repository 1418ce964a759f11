"""Personalization and evaluation through the exported TFLite signatures, on the host with LiteRT.

The same calls a phone makes: `train` one step at a time on the person's windows, then `infer`.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

__all__ = ["Session", "TrainLog", "accuracy"]


@dataclasses.dataclass(frozen=True)
class TrainLog:
    losses: tuple[float, ...]
    step_seconds: tuple[float, ...]  # wall time of each `train` invoke

    @property
    def steps(self) -> int:
        return len(self.losses)


class Session:
    """A fresh LiteRT interpreter over one artifact: its own weights and optimizer state."""

    def __init__(self, model_bytes: bytes, *, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model_bytes, num_threads=threads)
        self._infer = self.interpreter.get_signature_runner("infer")
        self._signatures = self.interpreter.get_signature_list()

    def logits(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        outs = [self._infer(x=x[i:i + batch])["logits"] for i in range(0, len(x), batch)]
        return np.concatenate(outs)

    def train(self, x: np.ndarray, y: np.ndarray, *, steps: int, seed: int = 0,
              plateau: int | None = None) -> TrainLog:
        """`steps` optimizer steps on batches drawn without replacement (reshuffled each epoch).

        With `plateau`, stop once the mean loss of the last `plateau` steps is no lower than that of
        the `plateau` steps before (the loss has stopped falling).
        """
        runner = self.interpreter.get_signature_runner("train")
        batch = self.train_batch
        rng = np.random.default_rng(seed)
        order: list[int] = []
        losses, seconds = [], []
        for _ in range(steps):
            if len(order) < batch:
                order += list(rng.permutation(len(y)))
                while len(order) < batch:  # fewer windows than one batch: repeat them
                    order += list(rng.permutation(len(y)))
            idx, order = order[:batch], order[batch:]
            start = time.perf_counter()
            loss = runner(x=x[idx], y=y[idx].astype(np.int32))["loss"]
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
        return dict(self.interpreter.get_signature_runner("get_weights")())

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.interpreter.get_signature_runner("set_weights")(**weights)


def accuracy(session: Session, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(session.logits(x).argmax(axis=1) == y))
