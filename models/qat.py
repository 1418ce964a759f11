"""Quantization-aware fine-tuning of the global HAR CNN, then full-int8 conversion.

Every layer output (and the raw input) passes through `FakeQuant`: 8-bit asymmetric fake
quantization (`tf.quantization.fake_quant_with_min_max_vars`, straight-through gradient) over a
range first calibrated on population windows, then tracked as an exponential moving average of
each training batch's min/max. The network fine-tunes on the population subjects with early
stopping on the tuning subjects, so its weights settle where activation rounding costs least.
Weights are not fake-quantized (the converter quantizes them per channel, a small error here).
The fake-quant layers are then dropped (they share the fine-tuned layers with the plain model) and
the plain model converts with the usual calibrated full-int8 options, builtin ops only.
"""

from __future__ import annotations

from functools import cache

import keras
import numpy as np
import tensorflow as tf

from models.cache import cache_root, source_hash
from models.har import data
from models.har.global_model import Weights, _load, _save, build_model, global_weights, layer_weights, \
    load_weights, train_epochs

__all__ = ["FakeQuant", "qat_model", "qat_weights", "QAT_EPOCHS", "QAT_LR"]

QAT_EPOCHS = 8  # at most; early stopping on the tuning subjects keeps the best epoch
QAT_LR = 2e-4
_MOMENTUM = 0.99  # EMA of the batch ranges


@keras.saving.register_keras_serializable("harness")
class FakeQuant(keras.layers.Layer):
    """8-bit fake quantization over an EMA-tracked [min, max] range (which always contains 0)."""

    def build(self, shape):
        self.low = self.add_weight((), initializer="zeros", trainable=False, name="low")
        self.high = self.add_weight((), initializer="ones", trainable=False, name="high")

    def call(self, x, training=None):
        if training:
            self.low.assign(_MOMENTUM * self.low + (1 - _MOMENTUM) * tf.minimum(tf.reduce_min(x), 0.0))
            self.high.assign(_MOMENTUM * self.high + (1 - _MOMENTUM) * tf.maximum(tf.reduce_max(x), 0.0))
        return tf.quantization.fake_quant_with_min_max_vars(x, self.low, self.high, num_bits=8)


def qat_model(model, calibration: np.ndarray):
    """`model` (a chain of layers) with a `FakeQuant` after its input and every layer, sharing its
    layers; each range starts at the min/max of that tensor over `calibration` windows."""
    x = model.inputs[0]
    taps = [x]
    for layer in model.layers[1:]:
        x = layer(x)
        taps.append(x)
    float_values = keras.Model(model.inputs[0], taps)(calibration)
    x = model.inputs[0]
    for i, layer in enumerate([None, *model.layers[1:]]):
        x = x if layer is None else layer(x)
        fake = FakeQuant(name=f"fq{i}")
        x = fake(x)
        low, high = float(np.min(float_values[i])), float(np.max(float_values[i]))
        fake.low.assign(min(low, 0.0))
        fake.high.assign(max(high, 0.0))
    return keras.Model(model.inputs[0], x, name="har_cnn_qat")


@cache
def qat_weights(epochs: int = QAT_EPOCHS) -> Weights:
    """Global weights after quantization-aware fine-tuning (population; tuning early stopping), cached."""
    from models.har.zoo_entries import representative_windows

    key = source_hash("har/data.py", "har/global_model.py", "layers.py", "qat.py")[:16]
    path = cache_root() / "weights" / f"har-qat-e{epochs}-{data.SPLIT_ID}-{key}.npz"
    if not path.exists():
        model = build_model()
        load_weights(model, global_weights())
        train_epochs(qat_model(model, representative_windows()), data.subject_windows(data.POPULATION),
                     data.subject_windows(data.TUNING), epochs=epochs, lr=QAT_LR)
        _save(path, layer_weights(model))
    return _load(path)
