"""Every keyboard variant (`keyboard-attn/<technique>`), and the cached build of one by name."""

from __future__ import annotations

from models.artifact import BuiltArtifact, build_variant
from models.keyboard import data, model, variants
from models.manifest import InputSpec
from models.variant import Variant

__all__ = ["MODEL", "TECHNIQUE_VARIANTS", "variants_list", "build"]

MODEL = "keyboard-attn"
TECHNIQUE_VARIANTS = tuple(f"{MODEL}/{t}" for t in model.TECHNIQUES)


def _variant(technique: str, description: str, build, filename: str = "model.tflite", inputs=None) -> Variant:
    return Variant(f"{MODEL}/{technique}", "keyboard", description, build, filename, inputs or data.inputs())


def _technique(name: str):
    return lambda: variants.export_technique(data.FULL, name, variants.learning_rates(data.FULL)[name])


def variants_list() -> list[Variant]:
    out = [_variant("base", "next-word base: int8 embedding + one attention block, inference only (batch 1)",
                    lambda: variants.export_base(data.FULL))]
    out += [_variant(name, f"personalizes {t.description}", _technique(name)) for name, t in model.TECHNIQUES.items()]
    out += [_variant("coreml", "Core ML ML program of the base (int8 weights; outputs logits and feature)",
                     lambda: variants.export_coreml(data.FULL, updatable_head=False), "model.mlpackage"),
            _variant("coreml-updatable-head", "Core ML updatable output projection (feature -> vocabulary, SGD)",
                     lambda: variants.export_coreml(data.FULL, updatable_head=True), "model.mlmodel",
                     (InputSpec("feature", "float32", (data.FULL.dim,), -4.0, 4.0,
                                units="feature output of keyboard-attn/coreml"),))]
    return out


def build(name: str) -> BuiltArtifact:
    """The cached build of keyboard variant `name` (KeyError if there is none)."""
    by_name = {v.name: v for v in variants_list()}
    if name not in by_name:
        raise KeyError(name)
    return build_variant(by_name[name])
