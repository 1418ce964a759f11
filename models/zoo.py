"""The registry of buildable variants, by name, and the cached build of each.

A variant builder returns the artifact bytes and its manifest fields; `build()` adds checksums and
provenance, writes `<out>/<variant>/<filename>` (`model.tflite` unless the variant names another, e.g.
`model.mlmodel`; a `.mlpackage` directory is unpacked from zip bytes) + `manifest.json`, and skips work
already cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.provenance import git_commit
from models.cache import atomic_write_bytes, cache_root, source_hash

__all__ = ["Variant", "BuiltArtifact", "VARIANTS", "register", "build", "variant_names"]

BuildFn = Callable[[], tuple[bytes, dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str  # "<model>/<technique>[-<option>]", e.g. "toy-cnn/last-layer"
    task: str  # "toy", "har", ...
    description: str
    build: BuildFn
    filename: str = "model.tflite"  # the artifact in <out>/<variant>/; ".mlpackage": zip bytes, unpacked

    @property
    def is_coreml(self) -> bool:
        return self.filename.endswith((".mlmodel", ".mlpackage"))


@dataclasses.dataclass(frozen=True)
class BuiltArtifact:
    name: str
    path: Path  # the .tflite / .mlmodel file or .mlpackage directory
    sha256: str
    manifest: dict[str, Any]


VARIANTS: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    if variant.name in VARIANTS:
        raise ValueError(f"variant {variant.name!r} registered twice")
    VARIANTS[variant.name] = variant
    return variant


def _load_registry() -> None:
    # Importing the zoo modules registers their variants; explicit, not a plugin side effect.
    from models import toy  # noqa: F401
    from models.har import zoo_entries  # noqa: F401
    from models.har import zoo_compression  # noqa: F401
    from models.har import zoo_transfer  # noqa: F401
    from models.har import zoo_deploy  # noqa: F401


def variant_names(task: str | None = None) -> list[str]:
    _load_registry()
    return sorted(n for n, v in VARIANTS.items() if task is None or v.task == task)


def build(name: str, out_dir: Path | None = None, *, force: bool = False) -> BuiltArtifact:
    """Build variant `name` into `out_dir` (default: the user cache), reusing a build of the same source."""
    _load_registry()
    if name not in VARIANTS:
        raise KeyError(name)
    variant = VARIANTS[name]
    recipe = source_hash()
    target = (out_dir or cache_root() / "artifacts") / name.replace("/", "__")
    manifest_path = target / "manifest.json"
    model_path = target / variant.filename
    if not force and manifest_path.exists() and model_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("source_hash") == recipe:
            return BuiltArtifact(name, model_path, manifest["sha256"], manifest)
    data, fields = variant.build()
    sha = hashlib.sha256(data).hexdigest()
    manifest = {
        "manifest_version": 1,
        "name": name,
        "task": variant.task,
        "description": variant.description,
        **fields,
        "model_bytes": len(data),
        "sha256": sha,
        "source_hash": recipe,
        "commit": git_commit(),
    }
    if model_path.suffix == ".mlpackage":
        _write_package(model_path, data)
    else:
        atomic_write_bytes(model_path, data)
    atomic_write_bytes(manifest_path, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return BuiltArtifact(name, model_path, sha, manifest)


def _write_package(path: Path, archive: bytes) -> None:
    """Unpack a zipped directory (an .mlpackage) to `path`, replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        unpacked = Path(tmp) / path.name
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            zf.extractall(unpacked)
        shutil.rmtree(path, ignore_errors=True)
        unpacked.rename(path)
