"""Early-exit cascade on the global HAR CNN: a cheap exit after block 1, else the full path.

The exit head (global mean of block 1's output -> dense 6, 390 parameters) is trained on the
training people with the backbone frozen (early stopping on the tuning people). The TFLite
artifact lets a phone run the cheap part first:

- `infer_early(x) -> {exit_probs (B, 6), feature (B, 64, 64)}`: stem + block 1 + exit softmax;
- `infer_rest(feature) -> {logits}`: blocks 2-3 + head, only when max(exit_probs) < threshold;
- `infer(x) -> {logits}`: the full path (what the bench and `Session` run).

The threshold is swept over its whole range (0: every window exits; the full path: none does) and
the operating point is chosen on the tuning people by a stated rule: the lowest average MACs whose
cascade accuracy is within `TOLERANCE` of the full path's.
"""

from __future__ import annotations

import dataclasses
import tempfile
from functools import cache

import numpy as np

from models.cache import cache_root, source_hash
from models.har import data
from models.har.folds import DEPLOYED, Fold
from models.har.global_model import GLOBAL, SOURCES, Arch, build_model, global_weights, layer_macs, load_weights
from models.weights import Weights, cached_weights

__all__ = ["ARCH", "THRESHOLDS", "TOLERANCE", "CascadeMacs", "cascade_macs", "train_exit", "exit_weights",
           "early_exit_model", "export_early_exit", "cascade_outputs", "keras_cascade", "cascade_point",
           "choose_threshold"]

ARCH = dataclasses.replace(GLOBAL, early_exit=True)
# on max exit probability (>= 1/6 for 6 classes, so 0 lets every window exit)
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
TOLERANCE = 0.005  # accuracy (0-1) the cascade may lose against the full path on the tuning people


@dataclasses.dataclass(frozen=True)
class CascadeMacs:
    early: int  # stem + block 1 + exit head, paid by every input
    rest: int  # blocks 2-3 + feature + head, paid by inputs that do not exit
    full: int  # the full path without the exit head

    def average(self, exit_fraction: float) -> float:
        return self.early + (1.0 - exit_fraction) * self.rest


def cascade_macs(arch: Arch = ARCH) -> CascadeMacs:
    macs = layer_macs(arch)
    early = ("stem", "b1_dw", "b1_pw", "exit1")
    return CascadeMacs(sum(macs[n] for n in early), sum(v for n, v in macs.items() if n not in early),
                       sum(v for n, v in macs.items() if n != "exit1"))


def _pooled_block1(model):
    """The sub-model x -> global mean of block 1's output (the exit head's input)."""
    import keras

    return keras.Model(model.input, model.get_layer("exit1").input)


def train_exit(weights: Weights, fold: Fold, seed: int = 0, epochs: int = 60) -> list[np.ndarray]:
    """[kernel, bias] of the exit head on the frozen backbone `weights` (the fold's training people;
    early stopping on its tuning people)."""
    import keras

    model = build_model(ARCH)
    load_weights(model, weights)
    pooled = _pooled_block1(model)
    population, tuning = data.subject_windows(fold.train), data.subject_windows(fold.tuning)
    f_pop, f_tune = (pooled.predict(w.x, batch_size=512, verbose=0) for w in (population, tuning))
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input((f_pop.shape[1],)), keras.layers.Dense(data.CLASSES)])
    head.compile(optimizer=keras.optimizers.Adam(1e-2),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    head.fit(f_pop, population.y, batch_size=64, epochs=epochs, validation_data=(f_tune, tuning.y), verbose=0,
             callbacks=[keras.callbacks.EarlyStopping(patience=4, restore_best_weights=True)])
    return [w.numpy() for w in head.layers[-1].weights]


@cache
def exit_weights() -> list[np.ndarray]:
    """[kernel, bias] of the deployed exit head (on the deployed global model); cached."""
    key = source_hash(*SOURCES, "har/early_exit.py")[:16]
    path = cache_root() / "weights" / f"har-exit1-{data.SPLIT_ID}-{key}.npz"
    return cached_weights(path, lambda: {"exit1": train_exit(global_weights(), DEPLOYED)})["exit1"]


def early_exit_model(arch: Arch = ARCH, weights=None):
    """(full model with the exit output, early sub-model x -> [exit logits, feature], rest sub-model).

    `weights` default to the trained global weights and exit head."""
    import keras

    model = build_model(arch)
    load_weights(model, {**global_weights(), "exit1": exit_weights()} if weights is None else weights)
    feature = model.get_layer("exit1").input._keras_history.operation.input  # block 1's output (B, 64, 64)
    return model, keras.Model(model.input, [model.outputs[1], feature]), keras.Model(feature, model.outputs[0])


def export_early_exit(arch: Arch = ARCH, weights=None) -> bytes:
    """TFLite bytes with `infer_early`, `infer_rest` and `infer` signatures (builtin ops only)."""
    import tensorflow as tf

    model, early, rest = early_exit_model(arch, weights)
    x_shape, f_shape = tuple(model.inputs[0].shape[1:]), tuple(rest.inputs[0].shape[1:])

    class _Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.model, self.early, self.rest = model, early, rest
            self._vars = [v.value for v in model.variables]  # tracked, so they freeze into constants

        @tf.function(input_signature=[tf.TensorSpec((None, *x_shape), tf.float32, name="x")])
        def infer_early(self, x):
            exit_logits, feature = self.early(x, training=False)
            return {"exit_probs": tf.nn.softmax(exit_logits), "feature": feature}

        @tf.function(input_signature=[tf.TensorSpec((None, *f_shape), tf.float32, name="feature")])
        def infer_rest(self, feature):
            return {"logits": self.rest(feature, training=False)}

        @tf.function(input_signature=[tf.TensorSpec((None, *x_shape), tf.float32, name="x")])
        def infer(self, x):
            return {"logits": self.model(x, training=False)[0]}

    module = _Module()
    names = ("infer_early", "infer_rest", "infer")
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={n: getattr(module, n).get_concrete_function() for n in names})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=list(names))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def cascade_outputs(model_bytes: bytes, x: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(exit probabilities, full-path logits) of every window, through the artifact's two signatures."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes, num_threads=1)
    early, rest = interpreter.get_signature_runner("infer_early"), interpreter.get_signature_runner("infer_rest")
    probs, logits = [], []
    for i in range(0, len(x), batch):
        out = early(x=x[i:i + batch])
        probs.append(out["exit_probs"])
        logits.append(rest(feature=out["feature"])["logits"])
    return np.concatenate(probs), np.concatenate(logits)


def cascade_point(probs: np.ndarray, logits: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    """(exit fraction, cascade accuracy) at `threshold` on max exit probability."""
    exits = probs.max(axis=1) >= threshold
    prediction = np.where(exits, probs.argmax(axis=1), logits.argmax(axis=1))
    return float(exits.mean()), float(np.mean(prediction == y))


def keras_cascade(weights: Weights, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exit probabilities, full-path logits) of every window from the Keras model with an exit head."""
    model = build_model(ARCH)
    load_weights(model, weights)
    logits, exit_logits = model.predict(x, batch_size=512, verbose=0)
    shifted = np.exp(exit_logits - exit_logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True), logits


def choose_threshold(probs: np.ndarray, logits: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, list[float]]]:
    """The threshold of lowest average MACs whose accuracy is within `TOLERANCE` of the full path (on the
    tuning people's windows given), and the table {threshold: [exit fraction, accuracy]}."""
    full = float(np.mean(logits.argmax(axis=1) == y))
    table = {str(t): list(cascade_point(probs, logits, y, t)) for t in THRESHOLDS}
    macs = cascade_macs()
    within = [t for t in THRESHOLDS if table[str(t)][1] >= full - TOLERANCE]
    chosen = min(within, key=lambda t: macs.average(table[str(t)][0]), default=THRESHOLDS[-1])
    return chosen, {"full_accuracy": [full], **table}
