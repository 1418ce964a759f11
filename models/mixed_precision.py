"""Mixed-precision int8: full-int8 except chosen layers, which stay float32.

TF 2.21's `TFLiteConverter` has no public option to keep layers float. What works is the path the
quantization debugger (`tf.lite.experimental.QuantizationDebugger`, `denylisted_nodes`) takes:
convert with `_experimental_calibrate_only` (a float model carrying calibration statistics), then
`tensorflow.lite.python.convert.mlir_quantize(..., denylisted_nodes=[...])`, which quantizes
everything except the ops whose output tensors are named, with quantize/dequantize ops at the
borders. Ops are named by the Keras layer that made them (`<model>_1/<layer>_1/MatMul`, ...).

The float layers are chosen by a sensitivity sweep over the caller's layers and inputs (e.g. tuning
data): keep one layer float at a time and measure the RMSE of the logits against the float32 model;
keep float every layer that alone removes at least `MIN_GAIN` of the full-int8 error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["MIN_GAIN", "Sensitivity", "calibrated", "layer_nodes", "quantize", "sweep"]

MIN_GAIN = 0.10


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    full_int8_rmse: float  # logits vs float32, full int8
    rmse: dict[str, float]  # layer kept float -> logits RMSE vs float32
    chosen: tuple[str, ...]  # layers kept float


def calibrated(model, representative: np.ndarray) -> bytes:
    """A float TFLite model of `model` carrying int8 calibration statistics (not yet quantized)."""
    from models.export import export_inference
    from models.quantize import converter_options

    int8 = converter_options("int8", representative)

    def calibrate_only(converter) -> None:
        int8(converter)
        converter._experimental_calibrate_only = True

    return export_inference(model, converter_options=calibrate_only)


def layer_nodes(calibrated_model: bytes, layers: Sequence[str]) -> list[str]:
    """Output tensor names of the ops that `layers` (Keras layer names) produced."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=calibrated_model)
    tensors = interpreter.get_tensor_details()
    names = [tensors[i]["name"] for op in interpreter._get_ops_details() for i in op["outputs"]]
    return [n for n in names if any(re.search(rf"/{re.escape(layer)}(_\d+)?/", n) for layer in layers)]


def quantize(calibrated_model: bytes, float_layers: Sequence[str] = ()) -> bytes:
    """Full int8 (float input/output at the boundary) except the ops of `float_layers`."""
    from tensorflow.lite.python.convert import mlir_quantize

    nodes = layer_nodes(calibrated_model, float_layers)
    if len(float_layers) and not nodes:
        raise ValueError(f"no ops found for layers {list(float_layers)}")
    return mlir_quantize(calibrated_model, fully_quantize=False, denylisted_nodes=nodes or None)


def _rmse(blob: bytes, reference: np.ndarray, windows: np.ndarray) -> float:
    from models.personalize import Session

    return float(np.sqrt(np.mean((Session(blob).logits(windows) - reference) ** 2)))


def sweep(calibrated_model: bytes, float_model: bytes, windows: np.ndarray, layers: Sequence[str]) -> Sensitivity:
    """Keep each of `layers` float in turn; choose those that cut the logits error by >= MIN_GAIN.

    A layer whose output is a signature output (e.g. the last) cannot be swept: its tensor carries the
    signature's output name, not the layer's."""
    from models.personalize import Session

    reference = Session(float_model).logits(windows)
    full = _rmse(quantize(calibrated_model), reference, windows)
    rmse = {layer: _rmse(quantize(calibrated_model, [layer]), reference, windows) for layer in layers}
    chosen = tuple(layer for layer in layers if rmse[layer] <= (1 - MIN_GAIN) * full)
    return Sensitivity(full, rmse, chosen)
