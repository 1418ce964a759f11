"""Toy 1D CNNs on HAR-shaped windows (128 samples x 6 channels) with seeded random weights.

They exercise the whole path (export, staging, inference, on-device training) before and beside the
real activity-recognition zoo; `toy-cnn-wide` is big enough (median invoke well above 1 ms) to compare
the harness's latency with LiteRT's own benchmark.
"""

from __future__ import annotations

from typing import Any

from models.manifest import InputSpec
from models.variant import Variant

__all__ = ["INPUTS", "variants"]

WINDOW = (128, 6)
CLASSES = 6
TRAIN_BATCH = 16
INPUTS = (InputSpec("x", "float32", WINDOW, -1.0, 1.0), InputSpec("y", "int32", (), 0, CLASSES))


def _cnn(width: int, blocks: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(WINDOW, name="x")
    x = inp
    for _ in range(blocks):
        x = keras.layers.Conv1D(width, 5, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(CLASSES, name="head")(x)
    return keras.Model(inp, out)


def _last_layer(width: int, blocks: int) -> tuple[bytes, dict[str, Any]]:
    from models.export import export_tflite, make_optimizer

    model = _cnn(width, blocks, seed=0)
    trainable = model.get_layer("head").trainable_variables
    data = export_tflite(model, trainable, optimizer=make_optimizer("sgd", 0.05), train_batch=TRAIN_BATCH,
                         x=INPUTS[0], y=INPUTS[1])
    trainable_params = sum(int(v.numpy().size) for v in trainable)
    return data, {
        "technique": "last-layer",
        "total_params": int(model.count_params()),
        "trainable_params": trainable_params,
        "delta_bytes": 4 * trainable_params,
        "train_batch": TRAIN_BATCH,
        "optimizer": "sgd",
        "quantization": "float32",
        "signatures": ["infer", "train", "get_weights", "set_weights"],
        "data": "none (seeded random weights)",
    }


def variants() -> list[Variant]:
    return [
        Variant("toy-cnn/last-layer", "toy", "Two conv blocks (16 ch) + head; head trains.", lambda: _last_layer(16, 2),
                inputs=INPUTS),
        Variant("toy-cnn-wide/last-layer", "toy", "Four conv blocks (128 ch) + head; for latency parity.",
                lambda: _last_layer(256, 4), inputs=INPUTS),
    ]
