"""Keras 3 layers whose forward *and* gradient convert to builtin TFLite ops.

Conv1D/DepthwiseConv1D gradients convert to ops LiteRT lacks, and `relu`'s gradient to `ReluGrad`
(not a builtin), so the convolutions here are written as pad + slice + matmul/multiply, downsampling
as a mean over pairs, and relu carries its own gradient.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

__all__ = ["relu", "Relu", "Standardize", "TemporalConv", "DepthwiseTemporalConv", "Pointwise", "HalveTime",
           "GlobalMean"]


@tf.custom_gradient
def relu(x):
    def grad(dy):
        return dy * tf.cast(x > 0, dy.dtype)

    return tf.nn.relu(x), grad


@keras.saving.register_keras_serializable("harness")
class Relu(keras.layers.Layer):
    def call(self, x):
        return relu(x)


@keras.saving.register_keras_serializable("harness")
class Standardize(keras.layers.Layer):
    """(x - mean) / scale with fixed per-channel constants, so the model takes raw sensor units."""

    def build(self, shape):
        self.mean = self.add_weight((shape[-1],), initializer="zeros", trainable=False, name="mean")
        self.scale = self.add_weight((shape[-1],), initializer="ones", trainable=False, name="scale")

    def call(self, x):
        return (x - self.mean) / self.scale


def _shifted(x, kernel: int):
    """The `kernel` time-shifted copies of x (B, T, C) under 'same' zero padding."""
    steps, channels = x.shape[1], x.shape[2]
    pad = kernel // 2
    padded = ops.pad(x, [[0, 0], [pad, kernel - 1 - pad], [0, 0]])
    return [ops.slice(padded, (0, j, 0), (-1, steps, channels)) for j in range(kernel)]


@keras.saving.register_keras_serializable("harness")
class TemporalConv(keras.layers.Layer):
    """Dense 1D convolution ('same', stride 1) as im2col + matmul."""

    def __init__(self, filters: int, kernel: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel

    def build(self, shape):
        self.kernel = self.add_weight((self.kernel_size * shape[-1], self.filters), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight((self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        steps = x.shape[1]
        cols = ops.concatenate(_shifted(x, self.kernel_size), axis=-1)
        y = ops.matmul(ops.reshape(cols, (-1, cols.shape[-1])), self.kernel) + self.bias
        return ops.reshape(y, (-1, steps, self.filters))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel": self.kernel_size}


@keras.saving.register_keras_serializable("harness")
class DepthwiseTemporalConv(keras.layers.Layer):
    """Per-channel 1D convolution ('same', stride 1) as a weighted sum of shifted copies."""

    def __init__(self, kernel: int, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel

    def build(self, shape):
        self.kernel = self.add_weight((self.kernel_size, shape[-1]), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight((shape[-1],), initializer="zeros", name="bias")

    def call(self, x):
        # Stack the shifts on a new axis rather than index the kernel: kernel[j] is a StridedSlice
        # whose gradient (StridedSliceGrad) is not a builtin op.
        shifted = ops.stack(_shifted(x, self.kernel_size), axis=2)  # (B, T, k, C)
        return ops.sum(shifted * self.kernel, axis=2) + self.bias

    def get_config(self):
        return {**super().get_config(), "kernel": self.kernel_size}


@keras.saving.register_keras_serializable("harness")
class Pointwise(keras.layers.Layer):
    """1x1 convolution over (B, T, C) as one 2D matmul (no broadcasting batch matmul in the gradient)."""

    def __init__(self, filters: int, use_bias: bool = True, zero_init: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.use_bias, self.zero_init = filters, use_bias, zero_init

    def build(self, shape):
        init = "zeros" if self.zero_init else "glorot_uniform"
        self.kernel = self.add_weight((shape[-1], self.filters), initializer=init, name="kernel")
        self.bias = self.add_weight((self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def call(self, x):
        steps = x.shape[1]
        y = ops.matmul(ops.reshape(x, (-1, x.shape[-1])), self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return ops.reshape(y, (-1, steps, self.filters))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "use_bias": self.use_bias,
                "zero_init": self.zero_init}


@keras.saving.register_keras_serializable("harness")
class HalveTime(keras.layers.Layer):
    """Downsample time by 2 as the mean of neighbouring pairs (reshape + mean)."""

    def call(self, x):
        return ops.mean(ops.reshape(x, (-1, x.shape[1] // 2, 2, x.shape[2])), axis=2)


@keras.saving.register_keras_serializable("harness")
class GlobalMean(keras.layers.Layer):
    def call(self, x):
        return ops.mean(x, axis=1)
