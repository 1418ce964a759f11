"""Registers deployment variants of the global HAR CNN (task "har"): the early-exit cascade and Core ML.

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


def _coreml(compression: str):
    def build() -> tuple[bytes, dict[str, Any]]:
        from models import coreml
        from models.har.global_model import GLOBAL, build_model, global_weights, load_weights
        from models.har.variants import manifest_fields

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
    from models.har.global_model import GLOBAL, build_model, global_weights, load_weights
    from models.har.variants import TRAIN_BATCH, manifest_fields

    model = build_model()
    load_weights(model, global_weights())
    head = model.get_layer("head")
    spec = coreml.updatable_classifier([coreml.DenseLayer("head", *global_weights()["head"], relu=False)],
                                       input_name="feature", class_names=data.CLASS_NAMES, learning_rate=_HEAD_LR,
                                       batch=TRAIN_BATCH, epochs=10)
    fields = manifest_fields(model, GLOBAL, head.trainable_variables, technique="last-layer (Core ML updatable)",
                             optimizer="sgd (Core ML, momentum 0)", lr=_HEAD_LR, signatures=("predict", "train"),
                             extra={"coreml": {**coreml.describe(spec), "epochs": 10, "backbone": "har-cnn/coreml "
                                               "(its feature output is this model's input)"}})
    fields["input"] = {"name": "feature", "shape": [int(head.input.shape[-1])], "dtype": "float32",
                       "units": "the global model's compact feature (relu output)"}
    return coreml.spec_bytes(spec), fields


for _compression in ("float32", "int8", "palettized"):
    register(Variant("har-cnn/coreml" + ("" if _compression == "float32" else f"-{_compression}"), "har",
                     f"Global HAR CNN as a Core ML ML program ({_compression} weights); logits + feature outputs.",
                     _coreml(_compression), filename="model.mlpackage"))
register(Variant("har-cnn/coreml-updatable-head", "har", "Updatable Core ML neural network of the HAR head (64 -> 6) "
                 "on the feature output of har-cnn/coreml.", _coreml_updatable_head, filename="model.mlmodel"))
