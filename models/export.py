"""TFLite export of a Keras 3 model with on-device training signatures, builtin ops only.

Signatures (see DESIGN "Facts about the stack"):
- `infer(x) -> logits`
- `train(x, y) -> loss`: one optimizer step on the personalization parameters only (cross-entropy
  against the integer class label `y`)
- `get_weights() -> {name: tensor}` / `set_weights(**tensors) -> ok`: move only those parameters

The Flex delegate is not available in LiteRT, so the loss is written with builtin ops (one_hot and
log_softmax instead of SparseSoftmaxCrossEntropyWithLogits) and the train signature has a fixed batch
size (a dynamic batch makes the gradient emit BroadcastGradientArgs).

The example input and the label are named and typed by the task's `InputSpec`s (default: `x`
float32 and `y` int32); the example's shape is the model's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

from models.manifest import InputSpec

__all__ = ["export_tflite", "export_inference", "weight_name", "make_optimizer"]


def weight_name(variable) -> str:
    """Signature tensor name of a personalization parameter: its Keras path with '/' -> '_'."""
    return variable.path.replace("/", "_")


def make_optimizer(name: str, learning_rate: float):
    """`sgd` (momentum 0.9) or `adamw`; the two optimizers the `train` signature supports."""
    import keras

    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=1e-4)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', not {name!r}")


_X, _Y = ("x", "float32"), ("y", "int32")  # (name, dtype) of the example input and the label by default


def _tensor_spec(spec: InputSpec | None, default: tuple[str, str], shape: tuple[int, ...], batch: int | None):
    """TensorSpec (batch, *shape) named and typed by `spec`, else by `default`."""
    import tensorflow as tf

    if spec is not None and spec.shape != shape:
        raise ValueError(f"input {spec.name!r} has shape {spec.shape} per example; the model's is {shape}")
    name, dtype = (spec.name, spec.dtype) if spec is not None else default
    return tf.TensorSpec((batch, *shape), tf.as_dtype(dtype), name=name)


def export_tflite(
    model,
    trainable: Sequence,
    *,
    optimizer,
    train_batch: int,
    x: InputSpec | None = None,
    y: InputSpec | None = None,
    converter_options=None,
) -> bytes:
    """Convert `model` to TFLite with infer/train/get_weights/set_weights signatures.

    `trainable` are the personalization parameters (Keras variables of `model`); only they get
    gradients and optimizer slots. `x`/`y` name and type the example input and the label.
    `converter_options(converter)` may set quantization flags.
    """
    import tensorflow as tf

    trainable = list(trainable)
    if not trainable:
        raise ValueError("trainable must name at least one personalization parameter")
    optimizer.build(trainable)
    num_classes = int(model.outputs[0].shape[-1])
    example = tuple(model.inputs[0].shape[1:])
    infer_x = _tensor_spec(x, _X, example, None)
    train_xy = [_tensor_spec(x, _X, example, train_batch), _tensor_spec(y, _Y, (), train_batch)]

    class _Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            # Keep the variable handles on the module or the converted model fails with
            # READ_VARIABLE ... variable != nullptr.
            self._vars = [v.value for v in model.variables + optimizer.variables]

        @tf.function(input_signature=[infer_x])
        def infer(self, x):
            return {"logits": self.model(x, training=False)}

        @tf.function(input_signature=train_xy)
        def train(self, x, y):
            with tf.GradientTape() as tape:
                logits = self.model(x, training=True)
                log_p = tf.nn.log_softmax(logits)
                loss = -tf.reduce_mean(tf.reduce_sum(tf.one_hot(y, num_classes) * log_p, axis=-1))
            grads = tape.gradient(loss, [v.value for v in trainable])
            optimizer.apply(grads, trainable)
            return {"loss": loss}

        @tf.function(input_signature=[])
        def get_weights(self):
            return {weight_name(v): v.value for v in trainable}

        @tf.function(input_signature=[tf.TensorSpec(v.shape, v.dtype, name=weight_name(v)) for v in trainable])
        def set_weights(self, *tensors):
            for v, t in zip(trainable, tensors):
                v.assign(t)
            return {"ok": tf.constant(1, tf.int32)}

    module = _Module()
    functions = [module.infer, module.train, module.get_weights, module.set_weights]
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [f.get_concrete_function() for f in functions], module
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.experimental_enable_resource_variables = True
    if converter_options is not None:
        converter_options(converter)
    return converter.convert()


def export_inference(model, *, x: InputSpec | None = None, converter_options=None) -> bytes:
    """Convert `model` with only the `infer(x) -> logits` signature (e.g. for quantized variants)."""
    import tensorflow as tf

    infer_x = _tensor_spec(x, _X, tuple(model.inputs[0].shape[1:]), None)

    class _Module(tf.Module):  # a named method, so the signature key is "infer", not "serving_default"
        def __init__(self):
            super().__init__()
            self.model = model
            self._vars = [v.value for v in model.variables]  # tracked, so they freeze into constants

        @tf.function(input_signature=[infer_x])
        def infer(self, x):
            return {"logits": self.model(x, training=False)}

    module = _Module()
    # A single concrete function converts under the key "serving_default"; a SavedModel keeps "infer".
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={"infer": module.infer.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["infer"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if converter_options is not None:
            converter_options(converter)
        return converter.convert()
