"""The `humanactivity` transfer baseline (task "har").

`humanactivity/last-layer`: the pretrained package model (scaling baked in) with the same
signatures as our personalization variants, training only its last dense layer (10,000 -> 6).
Its learning rate is chosen on the tuning subjects, like ours.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.har import data
from models.har import humanactivity as ha
from models.har.variants import STEPS, TRAIN_BATCH, variant
from models.manifest import InputSpec
from models.variant import Variant

__all__ = ["TRAINABLE_LAYERS", "INPUTS", "export_transfer", "transfer_lr", "variants"]

TRAINABLE_LAYERS = ("dense_2",)
INPUTS = (InputSpec("x", "float32", (ha.WINDOW, 3), -1.0, 1.0,
                    units="acc m/s², 20 Hz, the package's axes (HAPT y, x, z)"),
          InputSpec("y", "int32", (), 0, len(ha.CLASS_NAMES), units="class: " + ", ".join(ha.CLASS_NAMES)))


def _manifest(model, trainable: list, lr: float, lr_scores: dict[str, float]) -> dict[str, Any]:
    macs = ha.layer_macs()
    trainable_params = sum(int(np.prod(v.shape)) for v in trainable)
    total = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    inference = sum(macs.values())
    # last layer only: forward + its kernel gradient (no input gradients below it)
    train = TRAIN_BATCH * (inference + sum(macs[n] for n in TRAINABLE_LAYERS))
    return {
        "technique": "last-layer (the pretrained model's final dense layer)",
        "total_params": total,
        "trainable_params": trainable_params,
        "trainable_fraction": trainable_params / total,
        "delta_bytes": 4 * trainable_params,
        "macs_per_inference": inference,
        "macs_per_train_step": train,
        "class_names": list(ha.CLASS_NAMES),
        "label_map_from_hapt": {name: ha.CLASS_NAMES[i] for name, i in zip(data.CLASS_NAMES, ha.FROM_HAPT)},
        "train_batch": TRAIN_BATCH,
        "optimizer": "sgd",
        "learning_rate": lr,
        "lr_chosen_on": f"tuning subjects {list(data.TUNING)}",
        "lr_scores": lr_scores,
        "quantization": "float32",
        "signatures": ["infer", "train", "get_weights", "set_weights"],
        "data": f"pretrained: humanactivity 0.2.1 (WISDM-style, trouser pocket); fine-tuned/evaluated on UCI HAPT "
                f"split {data.SPLIT_ID}",
        "scaling": "har_scale_parameters.csv baked in (Standardize layer)",
    }


def export_transfer(lr: float) -> tuple[bytes, Any, list]:
    """(tflite bytes, keras model, trainable variables) of the package model training its last layer."""
    from models.export import export_tflite, make_optimizer

    model = ha.build_model()
    trainable = [v for name in TRAINABLE_LAYERS for v in model.get_layer(name).trainable_variables]
    blob = export_tflite(model, trainable, optimizer=make_optimizer("sgd", lr), train_batch=TRAIN_BATCH, x=INPUTS[0],
                         y=INPUTS[1])
    return blob, model, trainable


def _tuning_score(blob: bytes) -> float:
    from models.har.transfer_data import transfer_split
    from models.personalize import Session

    scores = []
    for subject in data.TUNING:
        split = transfer_split(subject)
        session = Session(blob)
        session.train(split.personal.transfer, ha.FROM_HAPT[split.personal.y], steps=STEPS, seed=0)
        for test in (split.same_trial_test, split.cross_placement_test):
            scores.append(float(np.mean(session.logits(test.transfer).argmax(1) == ha.FROM_HAPT[test.y])))
    return float(np.mean(scores))


def transfer_lr() -> tuple[float, dict[str, float]]:
    """Learning rate from `tuning.LR_GRID` with the best tuning-subject accuracy after `STEPS` steps; cached."""
    from models.har.tuning import LR_GRID

    path = cache_root() / "tuning" / f"humanactivity__last-layer-{source_hash()[:16]}.json"
    if not path.exists():
        scores = {str(lr): _tuning_score(export_transfer(lr)[0]) for lr in LR_GRID}
        atomic_write_bytes(path, json.dumps({"scores": scores, "subjects": list(data.TUNING)}, sort_keys=True).encode())
    scores = json.loads(path.read_text())["scores"]
    return float(max(scores, key=scores.get)), scores


def _build() -> tuple[bytes, dict[str, Any]]:
    lr, scores = transfer_lr()
    blob, model, trainable = export_transfer(lr)
    return blob, _manifest(model, trainable, lr, scores)


def variants() -> list[Variant]:
    return [variant("humanactivity/last-layer", "Pretrained humanactivity 0.2.1 CNN (transfer baseline, 20 Hz m/s² "
                    "90x3); personalizes its last dense layer; SGD momentum.", _build, inputs=INPUTS)]
