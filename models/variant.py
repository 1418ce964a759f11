"""A buildable variant: a name, its task, and the function that builds its artifact bytes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from models.manifest import InputSpec

__all__ = ["BuildFn", "Variant"]

BuildFn = Callable[[], tuple[bytes, dict[str, Any]]]  # -> (artifact bytes, manifest fields of the variant)


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str  # "<model>/<technique>[-<option>]", e.g. "toy-cnn/last-layer"
    task: str  # "toy", "har", ...
    description: str
    build: BuildFn
    filename: str = "model.tflite"  # the artifact in <out>/<variant>/; ".mlpackage": zip bytes, unpacked
    inputs: tuple[InputSpec, ...] = ()  # written into the manifest: normally the task's inputs

    @property
    def format(self) -> str:
        """"coreml" for an .mlmodel/.mlpackage artifact, else "tflite"."""
        return "coreml" if self.filename.endswith((".mlmodel", ".mlpackage")) else "tflite"
