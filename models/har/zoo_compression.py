"""The compressed HAR variants (task "har").

- `har-cnn/prune25`, `prune50`: structurally pruned global model (`models.har.pruning`), personalizing the head;
- `har-cnn/prune50-bitfit`: prune, then personalize every bias plus the head.
Learning rate and host recipe of each are chosen on the tuning subjects (`models.har.tuning.tune`, fold 0).
- `har-cnn/int8-qat`: quantization-aware fine-tuned global model (`models.har.qat`), full int8;
- `har-cnn/int8-mixed`: full int8 except the layers a sensitivity sweep on the tuning subjects keeps
  float (`models.mixed_precision`).
Inference-only variants are calibrated on the same 200 population windows as `har-cnn/int8-full`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models.cache import source_hash
from models.har import data
from models.har.global_model import GLOBAL, build_model, global_weights, load_weights
from models.har.pruning import FINE_TUNE_EPOCHS, FINE_TUNE_LR, PRUNING_SOURCES, pruned_weights
from models.har.variants import export_personalization, manifest_fields, variant
from models.har.zoo_entries import representative_windows
from models.variant import Variant

__all__ = ["PRUNED", "QUANTIZED", "SWEPT_LAYERS", "variants"]

# variant suffix -> (pruning ratio, personalization technique)
PRUNED = {"prune25": (0.25, "last-layer"), "prune50": (0.5, "last-layer"), "prune50-bitfit": (0.5, "bitfit")}
QUANTIZED = {"int8-qat": "int8 (QAT)", "int8-mixed": "int8 + float layers"}  # suffix -> quantization label
# Layers the mixed-precision sweep may keep float. The head is left out: its output tensor carries the
# signature's output name, not its layer name.
SWEPT_LAYERS = ("standardize", "stem", "b1_dw", "b1_pw", "b2_dw", "b2_pw", "b3_dw", "b3_pw", "feature")


def _pruned(ratio: float, technique: str, suffix: str):
    def build() -> tuple[bytes, dict[str, Any]]:
        from models.har.folds import DEPLOYED
        from models.har.trainer import Trainer
        from models.har.tuning import tune

        arch, weights = pruned_weights(ratio)
        # the tuning cache is keyed by the tuning sources; the pruned weights also depend on the pruning modules
        key = f"{suffix}-sgd-{source_hash(*PRUNING_SOURCES)[:8]}"
        tuned = tune(key, lambda: Trainer(technique, weights, arch=arch).session, DEPLOYED, 0)
        return export_personalization(technique, lr=tuned.learning_rate, arch=arch, weights=weights, extra={
            "recipe": dataclasses.asdict(tuned.recipe), "lr_chosen_on": f"tuning subjects {list(tuned.subjects)}",
            "pruning": {"ratio": ratio, "criterion": "L1 of whole output channels/units", "fine_tune_epochs_max":
                        FINE_TUNE_EPOCHS, "fine_tune_lr": FINE_TUNE_LR,
                        "fine_tune_on": "population subjects, early stopping on tuning subjects"}})

    return build


def _inference_fields(model, quantization: str, extra: dict[str, Any]) -> dict[str, Any]:
    return manifest_fields(model, GLOBAL, [], technique="none (global model)", optimizer="none", lr=0.0,
                           quantization=quantization, signatures=("infer",),
                           extra={"calibration": "200 population windows", **extra})


def _int8_qat() -> tuple[bytes, dict[str, Any]]:
    from models.export import export_inference
    from models.har.qat import QAT_EPOCHS, QAT_LR, qat_weights
    from models.quantize import converter_options

    model = build_model()
    load_weights(model, qat_weights())
    blob = export_inference(model, x=data.INPUTS[0],
                            converter_options=converter_options("int8", representative_windows()))
    return blob, _inference_fields(model, QUANTIZED["int8-qat"], {"qat": {
        "fake_quant": "8-bit activations (input + every layer output), EMA ranges", "epochs_max": QAT_EPOCHS,
        "lr": QAT_LR, "fine_tune_on": "population subjects, early stopping on tuning subjects"}})


def _int8_mixed() -> tuple[bytes, dict[str, Any]]:
    from models.export import export_inference
    from models.mixed_precision import MIN_GAIN, calibrated, quantize, sweep

    model = build_model()
    load_weights(model, global_weights())
    calibrated_model = calibrated(model, representative_windows())
    sensitivity = sweep(calibrated_model, export_inference(model, x=data.INPUTS[0]),
                        data.subject_windows(data.TUNING).x, SWEPT_LAYERS)
    return quantize(calibrated_model, sensitivity.chosen), _inference_fields(model, QUANTIZED["int8-mixed"], {
        "float_layers": list(sensitivity.chosen),
        "sensitivity": {"metric": f"logits RMSE vs float32 on tuning subjects {list(data.TUNING)}",
                        "full_int8": sensitivity.full_int8_rmse, "one_layer_float": sensitivity.rmse,
                        "rule": f"keep float each layer that alone cuts the error by >= {MIN_GAIN:.0%}"}})


def variants() -> list[Variant]:
    return [
        *(variant(f"har-cnn/{suffix}", f"Global HAR CNN with {100 * ratio:.0f}% of its channels pruned "
                  f"(L1, structured) and fine-tuned; personalizes with {technique}.", _pruned(ratio, technique, suffix))
          for suffix, (ratio, technique) in PRUNED.items()),
        variant("har-cnn/int8-qat", "Global HAR CNN after quantization-aware fine-tuning, inference only, full int8.",
                _int8_qat),
        variant("har-cnn/int8-mixed", "Global HAR CNN, inference only, full int8 except the most "
                "quantization-sensitive layers (float32).", _int8_mixed),
    ]
