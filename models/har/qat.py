"""Quantization-aware fine-tuning of the global HAR CNN (`models.qat`), cached; converted to full int8 by
`har-cnn/int8-qat`.

The fake-quant ranges start at 200 calibration windows of the training people; the network fine-tunes
on the training people with early stopping on the tuning people.
"""

from __future__ import annotations

from functools import cache

from models.cache import cache_root, source_hash
from models.har import data
from models.har.folds import DEPLOYED, Fold
from models.har.global_model import SOURCES, build_model, global_weights, layer_weights, load_weights, train_epochs
from models.weights import Weights, cached_weights

__all__ = ["qat_fine_tune", "qat_weights", "QAT_EPOCHS", "QAT_LR"]

QAT_EPOCHS = 1  # at most; early stopping on the tuning people keeps the best epoch
QAT_LR = 2e-4


def qat_fine_tune(weights: Weights, fold: Fold, seed: int = 0, epochs: int = QAT_EPOCHS) -> Weights:
    """`weights` after quantization-aware fine-tuning on the fold's training people."""
    from models.har.zoo_entries import representative_windows
    from models.qat import qat_model

    model = build_model()
    load_weights(model, weights)
    train_epochs(qat_model(model, representative_windows(fold.train)), data.subject_windows(fold.train),
                 data.subject_windows(fold.tuning), epochs=epochs, lr=QAT_LR, seed=seed)
    return layer_weights(model)


@cache
def qat_weights(epochs: int = QAT_EPOCHS) -> Weights:
    """The deployed global weights after quantization-aware fine-tuning, cached."""
    key = source_hash(*SOURCES, "qat.py", "har/qat.py")[:16]
    path = cache_root() / "weights" / f"har-qat-e{epochs}-{data.SPLIT_ID}-{key}.npz"
    return cached_weights(path, lambda: qat_fine_tune(global_weights(), DEPLOYED, epochs=epochs))
