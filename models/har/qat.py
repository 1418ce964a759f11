"""Quantization-aware fine-tuning of the global HAR CNN (`models.qat`), cached; converted to full int8 by
`har-cnn/int8-qat`.

The fake-quant ranges start at the 200 population calibration windows of `int8-full`; the network
fine-tunes on the population subjects with early stopping on the tuning subjects.
"""

from __future__ import annotations

from functools import cache

from models.cache import cache_root, source_hash
from models.har import data
from models.har.global_model import SOURCES, build_model, global_weights, layer_weights, load_weights, train_epochs
from models.weights import Weights, cached_weights

__all__ = ["qat_weights", "QAT_EPOCHS", "QAT_LR"]

QAT_EPOCHS = 8  # at most; early stopping on the tuning subjects keeps the best epoch
QAT_LR = 2e-4


def _fine_tune(epochs: int) -> Weights:
    from models.har.zoo_entries import representative_windows
    from models.qat import qat_model

    model = build_model()
    load_weights(model, global_weights())
    train_epochs(qat_model(model, representative_windows()), data.subject_windows(data.POPULATION),
                 data.subject_windows(data.TUNING), epochs=epochs, lr=QAT_LR)
    return layer_weights(model)


@cache
def qat_weights(epochs: int = QAT_EPOCHS) -> Weights:
    """Global weights after quantization-aware fine-tuning (population; tuning early stopping), cached."""
    key = source_hash(*SOURCES, "qat.py", "har/qat.py")[:16]
    path = cache_root() / "weights" / f"har-qat-e{epochs}-{data.SPLIT_ID}-{key}.npz"
    return cached_weights(path, lambda: _fine_tune(epochs))
