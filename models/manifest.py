"""The artifact manifest (`<variant>/manifest.json`): one typed, versioned record per built artifact.

Format history (`manifest_version`):
- 1: core fields (name, task, description, model_bytes, sha256, source_hash, commit) beside the
  builder's fields; the model input as `input: {name, shape (batch of 1 first), dtype[, units]}` and,
  for classifiers, `num_classes`.
- 2: `format` ("tflite" | "coreml"); `inputs`, a list of `InputSpec` (per-example shape without the
  batch dimension, synthetic value range [low, high)) replaces `input` and `num_classes`; variant
  fields that do not apply are left out instead of written as null.

On disk the JSON stays flat (variant fields at the top level beside the core fields, sorted keys), so
a reader of `manifest["trainable_params"]` needs no schema. Older versions are read through the
`_upgrade_<n>_to_<n+1>` functions; a newer version is refused.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MANIFEST_VERSION", "FORMATS", "InputSpec", "ArtifactManifest"]

MANIFEST_VERSION = 2
FORMATS = ("tflite", "coreml")
_DTYPES = ("float32", "float16", "int8", "uint8", "int16", "int32", "int64")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One model input, shared by every runner that draws synthetic values for it."""

    name: str  # signature tensor name, e.g. "x"
    dtype: str  # numpy dtype name, e.g. "float32", "int32"
    shape: tuple[int, ...]  # one example, without the batch dimension
    low: float  # synthetic values: uniform in [low, high) for floats, integers in [low, high) otherwise
    high: float
    units: str = ""  # what real values mean, e.g. "acc g, gyro rad/s, 50 Hz"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.dtype not in _DTYPES:
            raise ValueError(f"input {self.name!r}: dtype must be one of {', '.join(_DTYPES)}, not {self.dtype!r}")
        if not self.low < self.high:
            raise ValueError(f"input {self.name!r}: the range [low, high) must not be empty, got "
                             f"[{self.low}, {self.high})")

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "low": self.low, "high": self.high}
        return {**out, "units": self.units} if self.units else out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        missing = [k for k in ("name", "dtype", "shape", "low", "high") if k not in d]
        if missing:
            raise ValueError(f"input spec {dict(d)} lacks {missing[0]!r}")
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d["low"], d["high"], d.get("units", ""))


@dataclasses.dataclass(frozen=True)
class ArtifactManifest:
    """What `manifest.json` holds. Core fields first; variant fields are None (left out on disk) when
    they do not apply; `extra` keeps other variant-specific records (arch, pruning, coreml, ...)."""

    name: str  # "<model>/<technique>", e.g. "har-cnn/bitfit"
    task: str
    description: str
    format: str  # one of FORMATS
    model_bytes: int
    sha256: str  # of the artifact bytes (an .mlpackage: of its zip)
    source_hash: str  # sha256 of the models/ source that built it
    commit: str  # git commit of that source ("+dirty" if modified, "unknown" outside git)
    inputs: tuple[InputSpec, ...]
    technique: str | None = None
    total_params: int | None = None
    trainable_params: int | None = None
    trainable_fraction: float | None = None
    delta_bytes: int | None = None  # bytes of the personalization parameters a phone would send
    macs_per_inference: int | None = None
    macs_per_train_step: int | None = None
    train_batch: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    quantization: str | None = None
    signatures: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    data: str | None = None  # what the weights were trained on
    recipe: Mapping[str, Any] | None = None  # the tuned host-side `personalize.Recipe`
    lr_chosen_on: str | None = None
    calibration: str | None = None  # quantization calibration data
    early_exit: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"artifact {self.name!r}: format must be one of {FORMATS}, not {self.format!r}")
        clash = set(self.extra) & _FIELDS
        if clash:
            raise ValueError(f"artifact {self.name!r}: extra field {sorted(clash)[0]!r} is a manifest field")

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object written to disk (tuples as lists, None fields left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(value)
            elif f.name == "inputs":
                out["inputs"] = [spec.to_dict() for spec in value]
            elif value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArtifactManifest:
        """Read a manifest of this or an older version; ValueError names what is wrong."""
        version = d.get("manifest_version")
        if not isinstance(version, int) or not 1 <= version:
            raise ValueError(f"artifact manifest lacks a valid 'manifest_version' (got {version!r})")
        if version > MANIFEST_VERSION:
            raise ValueError(f"artifact manifest version {version} is newer than this code reads "
                             f"({MANIFEST_VERSION}); update the harness")
        for step in range(version, MANIFEST_VERSION):
            d = _UPGRADES[step](d)
        missing = [k for k in _CORE if k not in d]
        if missing:
            raise ValueError(f"artifact manifest {d.get('name', '?')!r} lacks {missing[0]!r}")
        typed = {k: v for k, v in d.items() if k in _FIELDS}
        typed["inputs"] = tuple(InputSpec.from_dict(spec) for spec in d["inputs"])
        for key in ("signatures", "class_names"):
            if typed.get(key) is not None:
                typed[key] = tuple(typed[key])
        return cls(**typed, extra={k: v for k, v in d.items() if k not in _FIELDS})


_FIELDS = frozenset(f.name for f in dataclasses.fields(ArtifactManifest)) - {"extra"}
_CORE = tuple(f.name for f in dataclasses.fields(ArtifactManifest)
              if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def _upgrade_1_to_2(d: Mapping[str, Any]) -> dict[str, Any]:
    """`input` + `num_classes` -> `inputs`; `format` from the Core ML record only Core ML builders wrote."""
    out = {k: v for k, v in d.items() if k not in ("input", "num_classes")}
    inputs = []
    if "input" in d:
        old = d["input"]
        shape = old["shape"][1:] if len(old["shape"]) > 1 and old["shape"][0] == 1 else old["shape"]
        # version 1 had no value range: runners drew floats in [-1, 1) and labels in [0, num_classes)
        inputs.append(InputSpec(old["name"], old["dtype"], shape, -1.0, 1.0, old.get("units", "")).to_dict())
    if "num_classes" in d:
        inputs.append(InputSpec("y", "int32", (), 0, d["num_classes"]).to_dict())
    return {**out, "manifest_version": 2, "format": "coreml" if "coreml" in d else "tflite", "inputs": inputs}


_UPGRADES = {1: _upgrade_1_to_2}
