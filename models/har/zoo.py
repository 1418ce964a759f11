"""Every HAR variant, and the cached build of one by name (what the HAR evaluation runs)."""

from __future__ import annotations

from models.artifact import BuiltArtifact, build_variant
from models.har import zoo_compression, zoo_deploy, zoo_entries, zoo_transfer
from models.variant import Variant

__all__ = ["variants", "build"]


def variants() -> list[Variant]:
    return zoo_entries.variants() + zoo_compression.variants() + zoo_transfer.variants() + zoo_deploy.variants()


def build(name: str) -> BuiltArtifact:
    """The cached build of HAR variant `name` (KeyError if there is none)."""
    by_name = {v.name: v for v in variants()}
    if name not in by_name:
        raise KeyError(name)
    return build_variant(by_name[name])
