"""Quantization-aware training: 8-bit fake quantization of a Keras model's activations.

Every layer output (and the raw input) passes through `FakeQuant`: 8-bit asymmetric fake
quantization (`tf.quantization.fake_quant_with_min_max_vars`, straight-through gradient) over a
range first calibrated on representative inputs, then tracked as an exponential moving average of
each training batch's min/max. Fine-tuning the wrapped model moves the weights where activation
rounding costs least. Weights are not fake-quantized (the converter quantizes them per channel, a
small error here). The fake-quant layers share the wrapped model's layers, so after training the
plain model converts with the usual calibrated full-int8 options, builtin ops only.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

__all__ = ["FakeQuant", "qat_model"]

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
    layers; each range starts at the min/max of that tensor over the `calibration` inputs."""
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
    return keras.Model(model.inputs[0], x, name=f"{model.name}_qat")
