"""The cached build of one `Variant`: artifact bytes + a checked manifest, reused while the source is unchanged.

A variant's builder returns the artifact bytes and its manifest fields; `build_variant()` adds checksums
and provenance, writes `<out>/<variant>/<filename>` (`model.tflite` unless the variant names another,
e.g. `model.mlmodel`; a `.mlpackage` directory is unpacked from zip bytes) + `manifest.json`, and skips
work already cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from harness.provenance import git_commit
from models.cache import atomic_write_bytes, cache_root, source_hash
from models.manifest import MANIFEST_VERSION, ArtifactManifest
from models.variant import Variant

__all__ = ["BuiltArtifact", "build_variant"]


@dataclasses.dataclass(frozen=True)
class BuiltArtifact:
    name: str
    path: Path  # the .tflite / .mlmodel file or .mlpackage directory
    sha256: str
    manifest: dict[str, Any]  # manifest.json as read back (flat JSON)
    record: ArtifactManifest  # the same, typed


def _built(name: str, path: Path, record: ArtifactManifest) -> BuiltArtifact:
    return BuiltArtifact(name, path, record.sha256, json.loads(record.to_json()), record)


def build_variant(variant: Variant, out_dir: Path | None = None, *, force: bool = False) -> BuiltArtifact:
    """Build `variant` into `out_dir` (default: the user cache), reusing a build of the same source."""
    recipe = source_hash()
    target = (out_dir or cache_root() / "artifacts") / variant.name.replace("/", "__")
    manifest_path = target / "manifest.json"
    model_path = target / variant.filename
    if not force and manifest_path.exists() and model_path.exists():
        cached = json.loads(manifest_path.read_text())
        if cached.get("source_hash") == recipe:
            return _built(variant.name, model_path, ArtifactManifest.from_dict(cached))
    data, fields = variant.build()
    core = {"manifest_version": MANIFEST_VERSION, "name": variant.name, "task": variant.task,
            "description": variant.description, "format": variant.format,
            "inputs": [spec.to_dict() for spec in variant.inputs], "model_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "source_hash": recipe, "commit": git_commit()}
    clash = sorted(set(fields) & set(core))
    if clash:
        raise ValueError(f"variant {variant.name!r}: its builder returned the core manifest field {clash[0]!r}")
    record = ArtifactManifest.from_dict({**fields, **core})
    if model_path.suffix == ".mlpackage":
        _write_package(model_path, data)
    else:
        atomic_write_bytes(model_path, data)
    atomic_write_bytes(manifest_path, record.to_json().encode())
    return _built(variant.name, model_path, record)


def _write_package(path: Path, archive: bytes) -> None:
    """Unpack a zipped directory (an .mlpackage) to `path`, replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        unpacked = Path(tmp) / path.name
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            zf.extractall(unpacked)
        shutil.rmtree(path, ignore_errors=True)
        unpacked.rename(path)
