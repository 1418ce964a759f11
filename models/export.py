"""TFLite export of a Keras 3 model with on-device training signatures, builtin ops only.

Signatures (see DESIGN "Facts about the stack"):
- `infer(x) -> logits`
- `train(x, y) -> loss`: one optimizer step on the personalization parameters only
- `get_weights() -> {name: tensor}` / `set_weights(**tensors) -> ok`: move only those parameters

The Flex delegate is not available in LiteRT, so the loss is written with builtin ops (one_hot and
log_softmax instead of SparseSoftmaxCrossEntropyWithLogits) and the train signature has a fixed batch
size (a dynamic batch makes the gradient emit BroadcastGradientArgs).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

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


def export_tflite(
    model,
    trainable: Sequence,
    *,
    optimizer,
    train_batch: int,
    converter_options=None,
) -> bytes:
    """Convert `model` to TFLite with infer/train/get_weights/set_weights signatures.

    `trainable` are the personalization parameters (Keras variables of `model`); only they get
    gradients and optimizer slots. `converter_options(converter)` may set quantization flags.
    """
    import tensorflow as tf

    trainable = list(trainable)
    if not trainable:
        raise ValueError("trainable must name at least one personalization parameter")
    optimizer.build(trainable)
    input_shape = tuple(model.inputs[0].shape[1:])
    num_classes = int(model.outputs[0].shape[-1])

    class _Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            # Keep the variable handles on the module or the converted model fails with
            # READ_VARIABLE ... variable != nullptr.
            self._vars = [v.value for v in model.variables + optimizer.variables]

        @tf.function(input_signature=[tf.TensorSpec((None, *input_shape), tf.float32, name="x")])
        def infer(self, x):
            return {"logits": self.model(x, training=False)}

        @tf.function(input_signature=[
            tf.TensorSpec((train_batch, *input_shape), tf.float32, name="x"),
            tf.TensorSpec((train_batch,), tf.int32, name="y"),
        ])
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


def export_inference(model, *, converter_options=None) -> bytes:
    """Convert `model` with only the `infer(x) -> logits` signature (e.g. for quantized variants)."""
    import tensorflow as tf

    input_shape = tuple(model.inputs[0].shape[1:])

    class _Module(tf.Module):  # a named method, so the signature key is "infer", not "serving_default"
        def __init__(self):
            super().__init__()
            self.model = model
            self._vars = [v.value for v in model.variables]  # tracked, so they freeze into constants

        @tf.function(input_signature=[tf.TensorSpec((None, *input_shape), tf.float32, name="x")])
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
