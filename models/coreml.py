"""Core ML export with coremltools 9 on Linux (see DESIGN "Facts about the stack").

- Inference: an ML program converted from a TensorFlow concrete function (not from the Keras 3
  model), optionally with int8 weights (linear symmetric) or palettized 4-bit weights
  (`coremltools.optimize.coreml`; uniform LUT: k-means would need scikit-learn).
- On-device training: an updatable neural network (`NeuralNetworkBuilder` + `make_updatable`) of
  dense layers, fed by the inference model's feature output; categorical cross-entropy, SGD.

Specs are built and checked here; prediction, compilation and `MLUpdateTask` need macOS/iOS.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["COMPRESSIONS", "DenseLayer", "mlprogram", "compress", "package_bytes", "stored_zip",
           "updatable_classifier", "spec_bytes", "describe"]

COMPRESSIONS = ("float32", "int8", "palettized")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def mlprogram(model, input_shape: Sequence[int], outputs: dict[str, object]):
    """ML program (float32) of Keras `model` from a concrete function; `outputs` name -> Keras tensor."""
    import coremltools as ct
    import keras
    import tensorflow as tf

    names = list(outputs)
    sub = keras.Model(model.input, [outputs[n] for n in names])

    @tf.function(input_signature=[tf.TensorSpec(tuple(input_shape), tf.float32, name="x")])
    def infer(x):
        values = sub(x, training=False)
        return list(values) if isinstance(values, (list, tuple)) else [values]

    program = ct.convert([infer.get_concrete_function()], source="tensorflow", convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS16)
    spec = program.get_spec()
    for output, name in zip(list(spec.description.output), names):  # the graph calls them Identity, Identity_1, ...
        ct.utils.rename_feature(spec, output.name, name)
    return ct.models.MLModel(spec, weights_dir=program.weights_dir)


def compress(mlmodel, mode: str):
    """`float32` (unchanged), `int8` weights (linear symmetric, per channel) or `palettized` (4-bit uniform LUT)."""
    from coremltools.optimize import coreml as cto

    if mode not in COMPRESSIONS:
        raise ValueError(f"Core ML compression must be one of {COMPRESSIONS}, not {mode!r}")
    if mode == "int8":
        op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", weight_threshold=0)
        return cto.linear_quantize_weights(mlmodel, cto.OptimizationConfig(global_config=op))
    if mode == "palettized":
        op = cto.OpPalettizerConfig(nbits=4, mode="uniform", weight_threshold=0)
        return cto.palettize_weights(mlmodel, cto.OptimizationConfig(global_config=op))
    return mlmodel


def package_bytes(mlmodel) -> bytes:
    """The saved .mlpackage directory as deterministic zip bytes (see `stored_zip`)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "model.mlpackage"
        mlmodel.save(str(root))
        return stored_zip(root)


def stored_zip(root: Path) -> bytes:
    """A directory (an .mlpackage) as deterministic zip bytes: sorted entries, fixed times, stored (no
    compression), so an unpacked package zips back to the bytes its manifest's sha256 names."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), _FIXED_ZIP_TIME)
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


@dataclasses.dataclass(frozen=True)
class DenseLayer:
    name: str
    kernel: np.ndarray  # (in, out), Keras layout
    bias: np.ndarray  # (out,)
    relu: bool


def updatable_classifier(layers: Sequence[DenseLayer], *, input_name: str, class_names: Sequence[str],
                         learning_rate: float, batch: int, epochs: int,
                         description: str = "Updatable classifier (personalization on device)"):
    """Spec of an updatable neural network: dense layers (all updatable) -> softmax `probs`.

    Training inputs: `input_name` and the true label `label` (string); loss: categorical
    cross-entropy on `probs`; optimizer: SGD with `learning_rate`, `batch`, momentum 0.
    """
    import coremltools as ct
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder, SgdParams

    builder = NeuralNetworkBuilder([(input_name, datatypes.Array(layers[0].kernel.shape[0]))],
                                   [("probs", datatypes.Array(len(class_names)))], mode="classifier",
                                   disable_rank5_shape_mapping=True)
    previous = input_name
    for layer in layers:
        fan_in, units = layer.kernel.shape
        builder.add_inner_product(layer.name, W=layer.kernel.T.astype(np.float32), b=layer.bias.astype(np.float32),
                                  input_channels=fan_in, output_channels=units, has_bias=True,
                                  input_name=previous, output_name=f"{layer.name}_out")
        previous = f"{layer.name}_out"
        if layer.relu:
            builder.add_activation(f"{layer.name}_relu", "RELU", previous, f"{layer.name}_act")
            previous = f"{layer.name}_act"
    builder.add_softmax("softmax", previous, "probs")
    builder.set_class_labels(list(class_names), predicted_feature_name="label", prediction_blob="probs")
    builder.make_updatable([layer.name for layer in layers])
    builder.set_categorical_cross_entropy_loss(name="loss", input="probs")
    builder.set_sgd_optimizer(SgdParams(lr=learning_rate, batch=batch, momentum=0.0))
    builder.set_epochs(epochs)
    builder.spec.description.metadata.shortDescription = description
    ct.utils.convert_double_to_float_multiarray_type(builder.spec)
    return builder.spec


def spec_bytes(spec) -> bytes:
    """Serialised .mlmodel bytes after a save/load round trip through coremltools (a format check)."""
    import coremltools as ct

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.mlmodel"
        ct.utils.save_spec(spec, str(path))
        ct.utils.load_spec(str(path))
        return path.read_bytes()


def describe(spec) -> dict[str, object]:
    """Format facts for the manifest: model type, spec version, inputs/outputs and training settings."""
    kind = spec.WhichOneof("Type")
    info: dict[str, object] = {
        "model_type": kind, "specification_version": spec.specificationVersion,
        "inputs": [i.name for i in spec.description.input], "outputs": [o.name for o in spec.description.output],
        "validated": "spec built and round-tripped with coremltools on Linux; prediction, compilation and "
                     "on-device update need macOS/iOS",
    }
    if kind == "mlProgram":
        ops = [op.type for f in spec.mlProgram.functions.values() for blk in f.block_specializations.values()
               for op in blk.operations]
        info["compressed_weight_ops"] = {t: ops.count(t) for t in sorted(set(ops)) if t.startswith("constexpr_")}
    if spec.isUpdatable:
        nn = getattr(spec, kind)
        info["updatable_layers"] = [layer.name for layer in nn.layers if layer.isUpdatable]
        info["training_inputs"] = [i.name for i in spec.description.trainingInput]
        info["loss"] = [loss.WhichOneof("LossLayerType") for loss in nn.updateParams.lossLayers]
        info["optimizer"] = nn.updateParams.optimizer.WhichOneof("OptimizerType")
    return info
