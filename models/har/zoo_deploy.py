"""Deployment variants of the global HAR CNN (task "har"): the early-exit cascade and Core ML."""

from __future__ import annotations

import dataclasses
from typing import Any

from models.har import data
from models.har.global_model import GLOBAL, build_model, global_weights, load_weights
from models.har.variants import TRAIN_BATCH, manifest_fields, variant
from models.manifest import InputSpec
from models.variant import Variant

__all__ = ["variants"]

# the updatable head's input: the compact feature output of har-cnn/coreml
_FEATURE = InputSpec("feature", "float32", (GLOBAL.feature,), -1.0, 1.0,
                     units="the global model's compact feature (relu output)")


def _early_exit() -> tuple[bytes, dict[str, Any]]:
    from models.har import early_exit as ee

    blob = ee.export_early_exit()
    tuning_windows = data.subject_windows(data.TUNING)
    threshold, tuning = ee.choose_threshold(*ee.cascade_outputs(blob, tuning_windows.x), tuning_windows.y)
    model, _, rest = ee.early_exit_model()
    macs = ee.cascade_macs()
    extra = {"early_exit": {
        "after": "block 1", "threshold": threshold, "thresholds": list(ee.THRESHOLDS),
        "chosen_on": f"tuning subjects {list(data.TUNING)}: lowest average MACs within "
                     f"{100 * ee.TOLERANCE:.1f} pt of the full path",
        "tuning_exit_fraction_accuracy": tuning, "exit_head_trained_on": f"population subjects {list(data.POPULATION)}",
        "feature_shape": list(rest.inputs[0].shape[1:]),
        **{f"macs_{k}": v for k, v in dataclasses.asdict(macs).items()},
    }}
    fields = manifest_fields(model, ee.ARCH, [], technique="early-exit cascade (inference only)", optimizer="none",
                             lr=0.0, signatures=("infer_early", "infer_rest", "infer"), extra=extra)
    return blob, fields


def _coreml(compression: str):
    def build() -> tuple[bytes, dict[str, Any]]:
        from models import coreml

        model = build_model()
        load_weights(model, global_weights())
        shape = (1, data.WINDOW, len(data.CHANNELS))
        program = coreml.compress(coreml.mlprogram(model, shape, {"logits": model.output,
                                                                  "feature": model.get_layer("head").input}),
                                  compression)
        info = {**coreml.describe(program.get_spec()), "compression": compression, "compute_precision": "float32",
                "deployment_target": "iOS16", "feature_output": "64-unit compact feature, input of "
                                                                "har-cnn/coreml-updatable-head"}
        quantization = {"float32": "float32", "int8": "int8 weights (linear symmetric)",
                        "palettized": "4-bit palettized weights (uniform LUT)"}[compression]
        fields = manifest_fields(model, GLOBAL, [], technique="none (global model)", optimizer="none", lr=0.0,
                                 quantization=quantization, signatures=("predict",), extra={"coreml": info})
        return coreml.package_bytes(program), fields

    return build


_HEAD_LR = 0.01  # not tuned for Core ML: MLUpdateTask only runs on macOS/iOS


def _coreml_updatable_head() -> tuple[bytes, dict[str, Any]]:
    from models import coreml

    model = build_model()
    load_weights(model, global_weights())
    head = model.get_layer("head")
    spec = coreml.updatable_classifier([coreml.DenseLayer("head", *global_weights()["head"], relu=False)],
                                       input_name=_FEATURE.name, class_names=data.CLASS_NAMES, learning_rate=_HEAD_LR,
                                       batch=TRAIN_BATCH, epochs=10,
                                       description="Updatable HAR head (personalization on device)")
    fields = manifest_fields(model, GLOBAL, head.trainable_variables, technique="last-layer (Core ML updatable)",
                             optimizer="sgd (Core ML, momentum 0)", lr=_HEAD_LR, signatures=("predict", "train"),
                             extra={"coreml": {**coreml.describe(spec), "epochs": 10, "backbone": "har-cnn/coreml "
                                               "(its feature output is this model's input)"}})
    return coreml.spec_bytes(spec), fields


def variants() -> list[Variant]:
    return [
        variant("har-cnn/early-exit", "Global HAR CNN with a cheap exit after block 1 (confidence threshold); "
                "infer_early / infer_rest signatures.", _early_exit),
        *(variant("har-cnn/coreml" + ("" if compression == "float32" else f"-{compression}"),
                  f"Global HAR CNN as a Core ML ML program ({compression} weights); logits + feature outputs.",
                  _coreml(compression), filename="model.mlpackage")
          for compression in ("float32", "int8", "palettized")),
        variant("har-cnn/coreml-updatable-head", "Updatable Core ML neural network of the HAR head (64 -> 6) on the "
                "feature output of har-cnn/coreml.", _coreml_updatable_head, filename="model.mlmodel",
                inputs=(_FEATURE,)),
    ]
