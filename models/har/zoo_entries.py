"""The HAR personalization and post-training-quantization variants (task "har"), and the population data
their builders share: calibration windows and Reptile episodes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.har import data
from models.har.variants import export_personalization, variant
from models.peft import TECHNIQUES
from models.quantize import converter_options
from models.variant import Variant

__all__ = ["QUANTIZED", "representative_windows", "population_episodes", "variants"]

# variant suffix -> quantization mode
QUANTIZED = {"float32": "float32", "float16": "float16", "int8-dynamic": "dynamic-int8", "int8-full": "int8",
             "int16x8": "int16x8"}


def representative_windows(subjects: Sequence[int] = data.POPULATION, count: int = 200) -> np.ndarray:
    """Calibration windows drawn (seeded) from `subjects` (training people only)."""
    population = data.subject_windows(subjects)
    return population.x[np.random.default_rng(0).choice(len(population), count, replace=False)]


def population_episodes(subjects: Sequence[int] = data.POPULATION) -> list[data.Windows]:
    """Reptile's episode pools: one per population subject (trial 1, phone on the belt, as in personalization)."""
    if not subjects or any(s not in data.POPULATION for s in subjects):
        raise ValueError(f"Reptile episodes come only from population subjects {data.POPULATION}, got {list(subjects)}")
    return [w.select(w.trial == 1) for w in (data.subject_windows([s]) for s in subjects)]


def _tuned(technique: str, optimizer: str):
    from models.har.folds import DEPLOYED
    from models.har.global_model import global_weights
    from models.har.trainer import Trainer
    from models.har.tuning import tune, tuning_key

    return tune(tuning_key(technique, optimizer=optimizer),
                lambda: Trainer(technique, global_weights(), optimizer=optimizer).session, DEPLOYED, 0)


def _recipe_fields(tuned) -> dict[str, Any]:
    return {"recipe": dataclasses.asdict(tuned.recipe), "lr_chosen_on": f"tuning subjects {list(tuned.subjects)}"}


def _personalization(technique: str, optimizer: str):
    def build() -> tuple[bytes, dict[str, Any]]:
        tuned = _tuned(technique, optimizer)
        return export_personalization(technique, lr=tuned.learning_rate, optimizer=optimizer,
                                      extra=_recipe_fields(tuned))

    return build


def _reptile(technique: str):
    """The technique's tuned artifact, its personalization parameters starting at a Reptile init."""
    def build() -> tuple[bytes, dict[str, Any]]:
        from models.meta import ReptileConfig, reptile

        tuned = _tuned(technique, "sgd")
        plain = export_personalization(technique, lr=tuned.learning_rate)[0]
        config = ReptileConfig()
        init = reptile(plain, population_episodes(), config)
        return export_personalization(technique, lr=tuned.learning_rate, init=init, extra={
            **_recipe_fields(tuned),
            "init": {"method": "reptile", "subjects": list(data.POPULATION), **dataclasses.asdict(config)}})

    return build


def _quantized(mode: str):
    def build() -> tuple[bytes, dict[str, Any]]:
        from models.export import export_inference
        from models.har.global_model import GLOBAL, build_model, global_weights, load_weights
        from models.har.variants import manifest_fields

        model = build_model()
        load_weights(model, global_weights())
        blob = export_inference(model, x=data.INPUTS[0],
                                converter_options=converter_options(mode, representative_windows()))
        fields = manifest_fields(model, GLOBAL, [], technique="none (global model)", optimizer="none",
                                 lr=0.0, quantization=mode, signatures=("infer",),
                                 extra={"calibration": "200 population windows" if "int" in mode else None})
        return blob, fields

    return build


def variants() -> list[Variant]:
    return [
        *(variant(f"har-cnn/{name}", f"Global HAR CNN; personalizes {tech.description}; SGD momentum.",
                  _personalization(name, "sgd")) for name, tech in TECHNIQUES.items()),
        variant("har-cnn/bitfit-adamw", "Global HAR CNN; BitFit with AdamW.", _personalization("bitfit", "adamw")),
        variant("har-cnn/bitfit-reptile", "Global HAR CNN; BitFit starting at a Reptile init (population subjects).",
                _reptile("bitfit")),
        *(variant(f"har-cnn/{suffix}", f"Global HAR CNN, inference only, {mode} post-training quantization.",
                  _quantized(mode)) for suffix, mode in QUANTIZED.items()),
    ]
