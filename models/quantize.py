"""Post-training quantization modes as TFLite converter options.

`int8` quantizes weights and activations (integer kernels; float input/output at the boundary),
calibrated on representative windows; `int16x8` keeps 16-bit activations with int8 weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["MODES", "converter_options"]

MODES = ("float32", "float16", "dynamic-int8", "int8", "int16x8")


def converter_options(mode: str, representative: np.ndarray | None = None) -> Callable | None:
    """A `converter -> None` callback for `mode`; int8/int16x8 need `representative` windows."""
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"quantization mode must be one of {MODES}, not {mode!r}")
    if mode == "float32":
        return None

    def dataset() -> Iterable[list[np.ndarray]]:
        for window in representative:
            yield [window[None].astype(np.float32)]

    def apply(converter) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif mode == "int8":
            converter.representative_dataset = dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        elif mode == "int16x8":
            converter.representative_dataset = dataset
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]

    if mode in ("int8", "int16x8") and representative is None:
        raise ValueError(f"{mode} needs representative windows")
    return apply
