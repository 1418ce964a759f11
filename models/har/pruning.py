"""Structured channel pruning of the global HAR CNN (`models.pruning` scoring and slicing), then a fine-tune.

Every prunable group loses its whole output channels of lowest L1 kernel magnitude:
- the stem conv's filters, and with them the matching channels of block 1's depthwise conv and the
  matching input rows of block 1's pointwise kernel;
- each block's pointwise filters, with the next block's depthwise channels and pointwise rows (after
  the last block: the feature dense's input rows);
- the feature dense's units, with the head's input rows.
Depthwise convs have no output channels of their own: they follow the channels that feed them.
The sliced weights load into `build_model` of a narrower `Arch`, so the TFLite graph, parameter count
and MACs are really smaller; a short fine-tune on the training people (early stopping on the
tuning people) recovers accuracy. `fine_tune` is the same budget for the dense model, so pruned and
dense are compared after the same extra training.
"""

from __future__ import annotations

import dataclasses
from functools import cache

from models.cache import cache_root, source_hash
from models.har import data
from models.har.folds import DEPLOYED, Fold
from models.har.global_model import (
    GLOBAL,
    SOURCES,
    Arch,
    build_model,
    global_weights,
    layer_weights,
    load_weights,
    train_epochs,
)
from models.pruning import channel_scores, kept_channels, slice_inputs
from models.weights import Weights, cached_weights

__all__ = ["FINE_TUNE_EPOCHS", "FINE_TUNE_LR", "PRUNING_SOURCES", "prune", "fine_tune", "pruned_weights"]

FINE_TUNE_EPOCHS = 2  # at most; early stopping on the tuning people keeps the best epoch
FINE_TUNE_LR = 1e-3
PRUNING_SOURCES = ("pruning.py", "har/pruning.py")  # besides the global model's: what pruned weights depend on


def prune(weights: Weights, ratio: float, arch: Arch = GLOBAL) -> tuple[Arch, Weights]:
    """(narrower arch, its weights): `ratio` of the channels of every prunable group removed by L1."""
    if arch.adapter or arch.lora_rank or arch.early_exit:
        raise ValueError("prune the plain global architecture (no adapter, LoRA or exit)")
    out = {name: list(ws) for name, ws in weights.items()}
    producers = ["stem"] + [f"b{i}_pw" for i in range(1, len(arch.blocks) + 1)] + ["feature"]
    widths: dict[str, int] = {}
    for i, producer in enumerate(producers):
        keep = kept_channels(channel_scores(out, producer), ratio)
        widths[producer] = len(keep)
        kernel, bias = out[producer]
        out[producer] = [kernel[:, keep], bias[keep]]
        if producer == "feature":
            out["head"] = slice_inputs(out["head"], "dense", keep)
        elif i < len(arch.blocks):
            out[f"b{i + 1}_dw"] = slice_inputs(out[f"b{i + 1}_dw"], "dw", keep)
            out[f"b{i + 1}_pw"] = slice_inputs(out[f"b{i + 1}_pw"], "dense", keep)
        else:
            out["feature"] = slice_inputs(out["feature"], "dense", keep)
    pruned = dataclasses.replace(arch, stem=widths["stem"], feature=widths["feature"],
                                 blocks=tuple(widths[f"b{i}_pw"] for i in range(1, len(arch.blocks) + 1)))
    return pruned, out


def fine_tune(arch: Arch, weights: Weights, fold: Fold, seed: int = 0, epochs: int = FINE_TUNE_EPOCHS) -> Weights:
    """`weights` of `arch` after at most `epochs` more epochs on the fold's training people (early stopping
    on its tuning people); the same budget for a pruned and a dense model."""
    model = build_model(arch)
    load_weights(model, weights)
    train_epochs(model, data.subject_windows(fold.train), data.subject_windows(fold.tuning), epochs=epochs,
                 lr=FINE_TUNE_LR, seed=seed)
    return layer_weights(model)


@cache
def pruned_weights(ratio: float, epochs: int = FINE_TUNE_EPOCHS) -> tuple[Arch, Weights]:
    """The deployed global model pruned by `ratio` and fine-tuned, cached."""
    arch, weights = prune(global_weights(), ratio)
    key = source_hash(*SOURCES, *PRUNING_SOURCES)[:16]
    path = cache_root() / "weights" / f"har-pruned{int(round(100 * ratio))}-e{epochs}-{data.SPLIT_ID}-{key}.npz"
    return arch, cached_weights(path, lambda: fine_tune(arch, weights, DEPLOYED, epochs=epochs))
