"""The global HAR model: a small depthwise-separable 1D CNN trained on a fold's training people.

    x (128 x 6, raw units) -> standardize -> stem conv k5 (32) -> /2
      -> 3 x [depthwise k5 -> pointwise (64, 96, 96)] with /2 between blocks
      -> [residual bottleneck adapter] -> global mean -> feature dense (64) -> head dense (6)
    optional: LoRA beside the feature and head dense layers; an early exit after block 1.

About 26k parameters and 0.63 M MACs per window. Weights are stored per layer name, so a variant
with extra layers (adapter, LoRA, exit) starts from the same trained global weights. One model per
fold and seed (`fold_weights`); the deployed one (`global_weights`) is fold 0, seed 0.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np

from models.cache import cache_root, source_hash
from models.har import data
from models.har.folds import DEPLOYED, Fold
from models.weights import Weights, cached_weights

__all__ = ["Arch", "GLOBAL", "SOURCES", "EPOCHS", "Weights", "build_model", "layer_macs", "fold_weights",
           "global_weights", "load_weights", "layer_weights", "train_epochs"]

@dataclasses.dataclass(frozen=True)
class Arch:
    stem: int = 32
    blocks: tuple[int, ...] = (64, 96, 96)
    feature: int = 64
    kernel: int = 5
    adapter: int = 0  # bottleneck width of the residual adapter after the last block; 0 = none
    lora_rank: int = 0  # rank of LoRA beside the feature and head dense layers; 0 = none
    early_exit: bool = False  # second output: logits of a cheap exit after block 1


GLOBAL = Arch()
SOURCES = ("har/data.py", "har/folds.py", "har/global_model.py", "layers.py", "weights.py")
EPOCHS = 6  # at most (early stopping on the fold's tuning people, patience 4)  # what the trained weights depend on


def _dense_with_lora(x, units: int, name: str, rank: int):
    import keras

    y = keras.layers.Dense(units, name=name)(x)
    if rank:
        low = keras.layers.Dense(rank, use_bias=False, name=f"{name}_lora_a")(x)
        y = keras.layers.Add()([y, keras.layers.Dense(units, use_bias=False, kernel_initializer="zeros",
                                                      name=f"{name}_lora_b")(low)])
    return y


def build_model(arch: Arch = GLOBAL, batch: int | None = None):
    """The Keras model of `arch` (fresh weights). Outputs logits (and exit-1 logits if early_exit)."""
    import keras

    from models.layers import DepthwiseTemporalConv, GlobalMean, HalveTime, Pointwise, Relu, Standardize, TemporalConv

    inp = keras.Input((data.WINDOW, len(data.CHANNELS)), batch_size=batch, name="x")
    x = Standardize(name="standardize")(inp)
    x = HalveTime()(Relu()(TemporalConv(arch.stem, arch.kernel, name="stem")(x)))
    exit_logits = None
    for i, width in enumerate(arch.blocks, start=1):
        if i > 1:
            x = HalveTime()(x)
        x = Relu()(DepthwiseTemporalConv(arch.kernel, name=f"b{i}_dw")(x))
        x = Relu()(Pointwise(width, name=f"b{i}_pw")(x))
        if i == 1 and arch.early_exit:
            exit_logits = keras.layers.Dense(data.CLASSES, name="exit1")(GlobalMean()(x))
    if arch.adapter:
        down = Relu()(Pointwise(arch.adapter, name="adapter_down")(x))
        x = keras.layers.Add()([x, Pointwise(arch.blocks[-1], zero_init=True, name="adapter_up")(down)])
    x = Relu()(_dense_with_lora(GlobalMean()(x), arch.feature, "feature", arch.lora_rank))
    logits = _dense_with_lora(x, data.CLASSES, "head", arch.lora_rank)
    outputs = [logits, exit_logits] if arch.early_exit else logits
    return keras.Model(inp, outputs, name="har_cnn")


def layer_macs(arch: Arch = GLOBAL) -> dict[str, int]:
    """Multiply-accumulates per window of each weighted layer, in forward order (analytic count)."""
    channels, steps, k = len(data.CHANNELS), data.WINDOW, arch.kernel
    macs = {"stem": steps * k * channels * arch.stem}
    c = arch.stem
    for i, width in enumerate(arch.blocks, start=1):
        steps //= 2
        macs[f"b{i}_dw"] = steps * k * c
        macs[f"b{i}_pw"] = steps * c * width
        if i == 1 and arch.early_exit:
            macs["exit1"] = width * data.CLASSES
        c = width
    if arch.adapter:
        macs["adapter_down"] = macs["adapter_up"] = steps * c * arch.adapter
    for name, fan_in, units in (("feature", c, arch.feature), ("head", arch.feature, data.CLASSES)):
        macs[name] = fan_in * units
        if arch.lora_rank:
            macs[f"{name}_lora_a"], macs[f"{name}_lora_b"] = fan_in * arch.lora_rank, arch.lora_rank * units
    return macs


def layer_weights(model) -> Weights:
    return {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers if layer.weights}


def load_weights(model, weights: Weights) -> None:
    """Set every layer of `model` that `weights` names; layers it doesn't name keep their init."""
    for layer in model.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])


def train_epochs(model, train: data.Windows, val: data.Windows | None, *, epochs: int, lr: float,
                 seed: int = 0, outputs: int = 1) -> None:
    """Fit with Adam; with `val`, keep the weights of the best validation epoch (early stopping)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # a rebuild on a clean cache gives the same weights
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = []
    if val is not None:
        callbacks.append(keras.callbacks.EarlyStopping(patience=4, restore_best_weights=True))
    targets = train.y if outputs == 1 else [train.y] * outputs
    val_data = None if val is None else (val.x, val.y if outputs == 1 else [val.y] * outputs)
    model.fit(train.x, targets, batch_size=64, epochs=epochs, validation_data=val_data, callbacks=callbacks,
              shuffle=True, verbose=0)


def _standardize_weights(population: data.Windows) -> list[np.ndarray]:
    flat = population.x.reshape(-1, population.x.shape[-1])
    return [flat.mean(axis=0), flat.std(axis=0) + 1e-6]


def _train_global(arch: Arch, fold: Fold, seed: int, epochs: int) -> Weights:
    import keras

    population, tuning = data.subject_windows(fold.train), data.subject_windows(fold.tuning)
    keras.utils.set_random_seed(seed)  # the initial weights too, or two builds of the same source differ
    model = build_model(arch)
    model.get_layer("standardize").set_weights(_standardize_weights(population))
    train_epochs(model, population, tuning, epochs=epochs, lr=2e-3, seed=seed)
    return layer_weights(model)


@cache
def fold_weights(fold: Fold, seed: int, arch: Arch = GLOBAL, epochs: int = EPOCHS) -> Weights:
    """Global weights of `arch` trained on the fold's training people with `seed` (early stopping on its
    tuning people), cached per fold and seed."""
    key = source_hash(*SOURCES)[:16]
    tag = f"{arch.stem}-{'-'.join(map(str, arch.blocks))}-{arch.feature}-k{arch.kernel}-e{epochs}"
    path = cache_root() / "weights" / f"har-global-{tag}-{fold.name}-seed{seed}-{key}.npz"
    return cached_weights(path, lambda: _train_global(arch, fold, seed, epochs))


def global_weights(arch: Arch = GLOBAL) -> Weights:
    """The deployed global model: fold 0 (the split of `models.har.data`), seed 0."""
    return fold_weights(DEPLOYED, 0, arch)
