"""Registers the compressed HAR variants (task "har"); imported by `models.zoo._load_registry`.

- `har-cnn/prune25`, `prune50`: structurally pruned global model (`models.pruning`), personalizing the head;
- `har-cnn/prune50-bitfit`: prune, then personalize every bias plus the head.
Learning rate and host recipe of each are chosen on the tuning subjects (`models.har.tuning.tune`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models.cache import source_hash
from models.har.variants import export_personalization
from models.pruning import FINE_TUNE_EPOCHS, FINE_TUNE_LR, pruned_weights
from models.zoo import Variant, register

__all__ = ["PRUNED"]

# variant suffix -> (pruning ratio, personalization technique)
PRUNED = {"prune25": (0.25, "last-layer"), "prune50": (0.5, "last-layer"), "prune50-bitfit": (0.5, "bitfit")}


def _pruned(ratio: float, technique: str, suffix: str):
    def build() -> tuple[bytes, dict[str, Any]]:
        from models.har.tuning import tune

        arch, weights = pruned_weights(ratio)
        # the tuning cache is keyed by the tuning sources; the pruned weights also depend on pruning.py
        key = f"har-cnn/{suffix}-sgd-{source_hash('pruning.py')[:8]}"
        tuned = tune(key, lambda rate: export_personalization(technique, lr=rate, arch=arch, weights=weights)[0])
        return export_personalization(technique, lr=tuned.learning_rate, arch=arch, weights=weights, extra={
            "recipe": dataclasses.asdict(tuned.recipe), "lr_chosen_on": f"tuning subjects {list(tuned.subjects)}",
            "pruning": {"ratio": ratio, "criterion": "L1 of whole output channels/units", "fine_tune_epochs_max":
                        FINE_TUNE_EPOCHS, "fine_tune_lr": FINE_TUNE_LR,
                        "fine_tune_on": "population subjects, early stopping on tuning subjects"}})

    return build


for _suffix, (_ratio, _technique) in PRUNED.items():
    register(Variant(f"har-cnn/{_suffix}", "har", f"Global HAR CNN with {100 * _ratio:.0f}% of its channels pruned "
                     f"(L1, structured) and fine-tuned; personalizes with {_technique}.",
                     _pruned(_ratio, _technique, _suffix)))
