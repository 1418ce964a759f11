"""A technique's `train` step in TensorFlow, behind the same `Session` interface as its TFLite artifact.

The cross-validated evaluation personalizes 9 global models x 5 techniques; a TFLite conversion per
(model, technique, learning rate) would cost more than the whole personalization. `Trainer` builds
the technique's Keras model once and runs the artifact's signatures as `tf.function`s: `train` is
the same loss (log-softmax cross-entropy on one-hot labels), the same optimizer (`make_optimizer`)
and the same trainable variables as `models.export.export_tflite`; the learning rate is a variable,
so a learning-rate grid needs no rebuild. `models.personalize` (batches, augmentation, early stopping)
runs on it unchanged. A test checks it against the exported artifact step for step.
"""

from __future__ import annotations

import numpy as np

from models.har import data
from models.har.global_model import GLOBAL, Arch
from models.har.variants import TRAIN_BATCH, personalization_model
from models.personalize import Session
from models.weights import Weights

__all__ = ["Trainer", "TrainerSession"]


class _Runner:
    def __init__(self, fn, input_details: dict | None = None):
        self._fn, self._details = fn, input_details or {}

    def __call__(self, **kwargs):
        return {k: np.asarray(v) for k, v in self._fn(**kwargs).items()}

    def get_input_details(self) -> dict:
        return self._details


class Trainer:
    """One technique on one set of global weights; `session(lr)` resets it for the next person."""

    def __init__(self, technique: str, weights: Weights, *, arch: Arch = GLOBAL, optimizer: str = "sgd",
                 seed: int = 0):
        import keras
        import tensorflow as tf

        from models.export import make_optimizer, weight_name

        keras.utils.set_random_seed(seed)  # the initial values of added layers (adapter down, LoRA A)
        tf.config.experimental.enable_op_determinism()
        model, self.arch, trainable = personalization_model(technique, arch, weights)
        self.model, self.technique, self.trainable = model, technique, trainable
        self._initial = [np.array(v.numpy()) for v in trainable]
        self._optimizer = opt = make_optimizer(optimizer, 0.01)
        opt.build(trainable)
        classes = int(model.outputs[0].shape[-1])
        shape = (data.WINDOW, len(data.CHANNELS))

        @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
        def infer(x):
            return {"logits": model(x, training=False)}

        @tf.function(input_signature=[tf.TensorSpec((TRAIN_BATCH, *shape), tf.float32),
                                      tf.TensorSpec((TRAIN_BATCH,), tf.int32)])
        def train(x, y):
            with tf.GradientTape() as tape:
                log_p = tf.nn.log_softmax(model(x, training=True))
                loss = -tf.reduce_mean(tf.reduce_sum(tf.one_hot(y, classes) * log_p, axis=-1))
            opt.apply(tape.gradient(loss, [v.value for v in trainable]), trainable)
            return {"loss": loss}

        names = [weight_name(v) for v in trainable]

        def get_weights():
            return {n: v.numpy() for n, v in zip(names, trainable)}

        def set_weights(**tensors):
            for n, v in zip(names, trainable):
                v.assign(tensors[n])
            return {"ok": 1}

        self._runners = {"infer": _Runner(lambda x: infer(x)),
                         "train": _Runner(lambda x, y: train(x, y), {"x": {"shape": (TRAIN_BATCH, *shape)}}),
                         "get_weights": _Runner(get_weights), "set_weights": _Runner(set_weights)}

    def get_signature_runner(self, name: str) -> _Runner:
        return self._runners[name]

    def session(self, learning_rate: float) -> TrainerSession:
        """The technique at its global weights with fresh optimizer state (the previous session ends)."""
        for v, value in zip(self.trainable, self._initial):
            v.assign(value)
        for v in self._optimizer.variables:
            v.assign(np.zeros(v.shape, v.dtype))
        self._optimizer.learning_rate.assign(learning_rate)
        return TrainerSession(self)


class TrainerSession(Session):
    """A `Session` whose signatures are a `Trainer`'s TensorFlow functions."""

    def __init__(self, trainer: Trainer):  # no super().__init__: there is no TFLite model to load
        self.interpreter = trainer
        self._infer = trainer.get_signature_runner("infer")
