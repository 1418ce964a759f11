"""The base next-word model: an int8 embedding table and a one-block attention body, in builtin TFLite ops.

    ids (context,) -> embedding (int8 rows x per-row scale, frozen) + positions
      -> attention of the last word over the context -> residual MLP -> feature (dim)
      -> [output-side adapter] -> head dense (dim -> vocab) [+ LoRA] + mask (never <s> or <unk>)

The base trains with a float embedding (Keras), which is then quantized per row to int8 and baked into
every artifact as a constant: no technique trains it ("full" fine-tuning = every float parameter).
The input is float32 ids (so every runner feeds it like any other input), cast to int32 inside.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np

from models.cache import cache_root, source_hash
from models.keyboard import data
from models.keyboard.data import Config
from models.weights import Weights, cached_weights

__all__ = ["Technique", "TECHNIQUES", "SOURCES", "build_model", "trainable", "base_weights", "load_base",
           "quantize_rows", "layer_macs",
           "train_macs", "LORA_RANK", "ADAPTER_WIDTH", "MASKED"]

SOURCES = ("keyboard/corpus.py", "keyboard/data.py", "keyboard/model.py")  # what the cached base depends on
LORA_RANK = 4
ADAPTER_WIDTH = 16
MASKED = -1e4  # added to the logits of <s> and <unk>


@dataclasses.dataclass(frozen=True)
class Technique:
    name: str
    description: str
    layers: tuple[str, ...]  # layers whose variables train (empty: every float layer)
    adapter: bool = False
    lora: bool = False
    bias_only: bool = False  # of `layers`, only the bias


TECHNIQUES = {t.name: t for t in (
    Technique("bias", "the output layer's bias (one value per word)", ("head",), bias_only=True),
    Technique("lora", f"rank-{LORA_RANK} LoRA of the output projection (B zero-initialised)",
              ("head_lora_a", "head_lora_b"), lora=True),
    Technique("adapter", f"a residual bottleneck adapter (width {ADAPTER_WIDTH}, zero-initialised up-projection) "
              "between the body and the output projection", ("adapter_down", "adapter_up"), adapter=True),
    Technique("full", "every float parameter (body and output projection; the int8 embedding stays frozen)", ()),
)}


def _layers():
    import keras
    import tensorflow as tf
    from keras import ops

    from models.layers import relu

    @keras.saving.register_keras_serializable("keyboard")
    class Int8Embedding(keras.layers.Layer):
        """Rows of a frozen int8 table times their float scale; the table is a graph constant."""

        def __init__(self, table: np.ndarray, scale: np.ndarray, **kwargs):
            super().__init__(**kwargs)
            self.table, self.scale = table, scale

        def call(self, ids):
            ids = tf.cast(ids, tf.int32)
            rows = tf.cast(tf.gather(tf.constant(self.table), ids), tf.float32)
            return rows * tf.expand_dims(tf.gather(tf.constant(self.scale), ids), -1)

    @keras.saving.register_keras_serializable("keyboard")
    class LastWordAttention(keras.layers.Layer):
        """The last position's query over every position (single head); 2D matmuls and reductions only."""

        def build(self, shape):
            dim = shape[-1]
            for name in ("query", "key", "value", "out"):
                setattr(self, name, self.add_weight((dim, dim), initializer="glorot_uniform", name=name))
            self.bias = self.add_weight((dim,), initializer="zeros", name="bias")

        def call(self, h):
            steps, dim = h.shape[1], h.shape[2]
            flat = ops.reshape(h, (-1, dim))
            keys = ops.reshape(ops.matmul(flat, self.key), (-1, steps, dim))
            values = ops.reshape(ops.matmul(flat, self.value), (-1, steps, dim))
            # slice/expand_dims, not indexing: StridedSliceGrad is not a builtin op
            last = ops.reshape(ops.slice(h, (0, steps - 1, 0), (-1, 1, dim)), (-1, dim))
            q = ops.expand_dims(ops.matmul(last, self.query), 1)
            weights = ops.softmax(ops.sum(keys * q, axis=-1) / float(np.sqrt(dim)), axis=-1)
            attended = ops.sum(values * ops.expand_dims(weights, -1), axis=1)
            return last + ops.matmul(attended, self.out) + self.bias

    @keras.saving.register_keras_serializable("keyboard")
    class Positions(keras.layers.Layer):
        def build(self, shape):
            self.table = self.add_weight(tuple(shape[1:]), initializer="zeros", name="table")

        def call(self, h):
            return h + self.table

    @keras.saving.register_keras_serializable("keyboard")
    class Mask(keras.layers.Layer):
        def call(self, logits):
            mask = np.zeros(logits.shape[-1], np.float32)
            mask[[data.BOS, data.UNK]] = MASKED
            return logits + tf.constant(mask)

    return Int8Embedding, LastWordAttention, Positions, Mask, relu


def build_model(config: Config, technique: str | None = None, embedding: tuple[np.ndarray, np.ndarray] | None = None,
                seed: int = 0):
    """Keras model of `config`: a float trainable embedding (base training) or the int8 `embedding`
    (table, scale); with `technique`, its extra layers (adapter, LoRA)."""
    import keras
    from keras import layers

    Int8Embedding, LastWordAttention, Positions, Mask, relu = _layers()
    tech = TECHNIQUES[technique] if technique else Technique("", "", ())
    keras.utils.set_random_seed(seed)
    x = keras.Input((config.context,), name="x")
    if embedding is None:  # Keras' Embedding casts the float ids itself
        h = layers.Embedding(config.vocab, config.dim, name="embedding")(x)
    else:
        h = Int8Embedding(*embedding, name="embedding")(x)
    h = Positions(name="positions")(h)
    h = LastWordAttention(name="attention")(h)
    inner = layers.Lambda(relu, name="mlp_relu")(layers.Dense(config.hidden, name="mlp_in")(h))
    h = layers.Add(name="mlp_add")([h, layers.Dense(config.dim, name="mlp_out")(inner)])
    if tech.adapter:
        down = layers.Lambda(relu, name="adapter_relu")(layers.Dense(ADAPTER_WIDTH, name="adapter_down")(h))
        h = layers.Add(name="adapter_add")([h, layers.Dense(config.dim, kernel_initializer="zeros",
                                                            name="adapter_up")(down)])
    feature = layers.Identity(name="feature")(h)
    logits = layers.Dense(config.vocab, name="head")(feature)
    if tech.lora:
        a = layers.Dense(LORA_RANK, use_bias=False, name="head_lora_a")(feature)
        b = layers.Dense(config.vocab, use_bias=False, kernel_initializer="zeros", name="head_lora_b")(a)
        logits = layers.Add(name="head_lora_add")([logits, b])
    return keras.Model(x, Mask(name="mask")(logits), name="keyboard")


def trainable(model, technique: str) -> list:
    """The personalization variables of `technique` in `model`."""
    tech = TECHNIQUES[technique]
    if not tech.layers:
        return [v for layer in model.layers if layer.name != "embedding" for v in layer.trainable_variables]
    chosen = [v for name in tech.layers for v in model.get_layer(name).trainable_variables]
    return [v for v in chosen if v.name == "bias"] if tech.bias_only else chosen


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: (int8 table, float32 scale per row)."""
    scale = np.maximum(np.abs(table).max(axis=1), 1e-8) / 127.0
    return np.clip(np.round(table / scale[:, None]), -127, 127).astype(np.int8), scale.astype(np.float32)


def _train_base(config: Config, progress) -> Weights:
    import keras

    vocab = data.vocabulary(config)
    split = data.split(config)
    train = data.play_examples(split.train, config, vocab).known()
    tuning = data.play_examples(split.tuning, config, vocab).known()
    model = build_model(config)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class _Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            progress(f"keyboard base: epoch {epoch + 1}/{config.epochs}, tuning loss {logs['val_loss']:.3f}")

    model.fit(train.x, train.y, batch_size=256, epochs=config.epochs, validation_data=(tuning.x, tuning.y),
              shuffle=True, verbose=0, callbacks=[keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True),
                                                  _Report()])
    return {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers if layer.weights}


@cache
def base_weights(config: Config = data.FULL, progress=lambda _msg: None) -> Weights:
    """Trained base weights (training plays; early stopping on the tuning plays; seed 0), cached by source."""
    key = source_hash(*SOURCES)[:16]
    path = cache_root() / "weights" / f"keyboard-base-{config.name}-d{config.dim}-h{config.hidden}-" \
                                      f"e{config.epochs}-{config.split_id}-{key}.npz"
    return cached_weights(path, lambda: _train_base(config, progress))


def load_base(model, weights: Weights) -> None:
    """Set every layer `weights` names except the embedding (int8 in every artifact)."""
    for layer in model.layers:
        if layer.name in weights and layer.name != "embedding":
            layer.set_weights(weights[layer.name])


def layer_macs(config: Config, technique: str | None = None) -> dict[str, int]:
    """Analytic MACs of one example, by layer in forward order (the embedding is a lookup: 0)."""
    c, d = config.context, config.dim
    macs = {"attention": 2 * c * d * d + 2 * d * d + 2 * c * d, "mlp_in": d * config.hidden,
            "mlp_out": config.hidden * d}
    tech = TECHNIQUES[technique] if technique else None
    if tech and tech.adapter:
        macs["adapter_down"] = macs["adapter_up"] = d * ADAPTER_WIDTH
    macs["head"] = d * config.vocab
    if tech and tech.lora:
        macs["head_lora_a"], macs["head_lora_b"] = d * LORA_RANK, LORA_RANK * config.vocab
    return macs


def train_macs(config: Config, technique: str, batch: int) -> int:
    """MACs of one training step: forward, input gradients down to the lowest trainable layer, and weight
    gradients of the trained kernels (a bias gradient is free)."""
    macs = layer_macs(config, technique)
    tech = TECHNIQUES[technique]
    names = list(macs)
    trained = [n for n in names if n in tech.layers and not tech.bias_only] if tech.layers else names
    lowest = min((names.index(n) for n in trained), default=names.index("head"))
    backward_input = sum(macs[n] for n in names[lowest + 1:])
    return batch * (sum(macs.values()) + backward_input + sum(macs[n] for n in trained))
