"""Parameter-efficient personalization techniques: which parameters a technique adds and trains.

A technique is an architecture change (adapter, LoRA) plus a rule naming the trainable variables;
everything else stays frozen at the global weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

__all__ = ["Technique", "TECHNIQUES", "trainable_variables"]


def _layers(*names: str) -> Callable:
    return lambda model: [v for name in names for v in model.get_layer(name).trainable_variables]


def _biases_and_head(model) -> list:
    biases = [v for layer in model.layers if layer.name not in ("head", "exit1")
              for v in layer.trainable_variables if v.name == "bias"]
    return biases + model.get_layer("head").trainable_variables


def _lora(model) -> list:
    return [v for layer in model.layers if "_lora_" in layer.name for v in layer.trainable_variables]


def _all(model) -> list:
    return [v for layer in model.layers if layer.name != "exit1" for v in layer.trainable_variables]


@dataclasses.dataclass(frozen=True)
class Technique:
    name: str
    description: str
    select: Callable  # keras model -> its personalization variables
    adapter: int = 0  # bottleneck width the technique adds (see global_model.Arch)
    lora_rank: int = 0


TECHNIQUES: dict[str, Technique] = {t.name: t for t in (
    Technique("last-layer", "the classification head (kernel + bias)", _layers("head")),
    Technique("bitfit", "every bias plus the head (BitFit)", _biases_and_head),
    Technique("adapter", "a residual bottleneck adapter (width 4, zero-initialised up-projection) after the "
              "last block, plus the head", _layers("adapter_down", "adapter_up", "head"), adapter=4),
    Technique("lora", "rank-4 LoRA beside the feature and head dense layers (B zero-initialised)", _lora,
              lora_rank=4),
    Technique("full", "every parameter (the reference)", _all),
)}


def trainable_variables(model, technique: str) -> list:
    return TECHNIQUES[technique].select(model)
