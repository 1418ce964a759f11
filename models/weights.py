"""Trained Keras weights by layer name, stored as one .npz (`<layer>/<index>` keys) in the user cache."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.cache import atomic_write_bytes

__all__ = ["Weights", "cached_weights"]

Weights = dict[str, list[np.ndarray]]  # layer name -> that layer's weights in Keras order


def _write(path: Path, weights: Weights) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)})
    atomic_write_bytes(path, buf.getvalue())


def _read(path: Path) -> Weights:
    out: Weights = {}
    with np.load(path) as arrays:
        for key in sorted(arrays.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
            out.setdefault(key.rsplit("/", 1)[0], []).append(arrays[key])
    return out


def cached_weights(path: Path, compute: Callable[[], Weights]) -> Weights:
    """The weights stored at `path`, computed by `compute()` and stored the first time only."""
    if not path.exists():
        _write(path, compute())
    return _read(path)
