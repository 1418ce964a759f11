"""Structured channel pruning: score whole output channels by L1 magnitude, keep the best, slice the rest.

Pruning removes whole output channels (units) of lowest L1 kernel magnitude (Li et al., 2017,
"Pruning Filters for Efficient ConvNets"), so the sliced weights load into a physically narrower
model: no masks. Which layers form a group (a producer, the layers its channels feed) is the
architecture's business (e.g. `models.har.pruning`).
"""

from __future__ import annotations

import numpy as np

from models.weights import Weights

__all__ = ["channel_scores", "kept_channels", "slice_inputs"]


def channel_scores(weights: Weights, layer: str) -> np.ndarray:
    """L1 magnitude of each output channel's (unit's) kernel column of `layer`."""
    return np.abs(weights[layer][0]).sum(axis=0)


def kept_channels(scores: np.ndarray, ratio: float) -> np.ndarray:
    """Sorted indices of the `round((1 - ratio) * n)` highest-scoring channels (at least one)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), not {ratio}")
    keep = max(1, int(round(len(scores) * (1.0 - ratio))))
    return np.sort(np.argsort(-scores, kind="stable")[:keep])


def slice_inputs(layer_weights: list[np.ndarray], kind: str, keep: np.ndarray) -> list[np.ndarray]:
    """Drop input channels of a depthwise (`kind` "dw": kernel (k, C) + bias (C)) or dense/pointwise layer (rows)."""
    kernel, *rest = layer_weights
    if kind == "dw":
        return [kernel[:, keep], rest[0][keep]]
    return [kernel[keep], *rest]
