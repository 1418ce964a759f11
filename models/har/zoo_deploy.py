"""Registers deployment variants of the global HAR CNN (task "har"): the early-exit cascade.

Imported by `models.zoo._load_registry`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models.har import data
from models.zoo import Variant, register

__all__: list[str] = []


def _early_exit() -> tuple[bytes, dict[str, Any]]:
    from models.har import early_exit as ee
    from models.har.variants import manifest_fields

    blob = ee.export_early_exit()
    threshold, tuning = ee.choose_threshold(blob)
    model, _, rest = ee.early_exit_model()
    macs = ee.cascade_macs()
    extra = {"early_exit": {
        "after": "block 1", "threshold": threshold, "thresholds": list(ee.THRESHOLDS),
        "chosen_on": f"tuning subjects {list(data.TUNING)}: lowest threshold within "
                     f"{100 * ee.TOLERANCE:.0f} pt of the full path",
        "tuning_exit_fraction_accuracy": tuning, "exit_head_trained_on": f"population subjects {list(data.POPULATION)}",
        "feature_shape": list(rest.inputs[0].shape[1:]), **{f"macs_{k}": v for k, v in dataclasses.asdict(macs).items()},
    }}
    fields = manifest_fields(model, ee.ARCH, [], technique="early-exit cascade (inference only)", optimizer="none",
                             lr=0.0, signatures=("infer_early", "infer_rest", "infer"), extra=extra)
    return blob, fields


register(Variant("har-cnn/early-exit", "har", "Global HAR CNN with a cheap exit after block 1 (confidence threshold); "
                 "infer_early / infer_rest signatures.", _early_exit))
