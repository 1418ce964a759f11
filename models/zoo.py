"""The model zoo by variant name: the cached build the CLI and the bench call (tasks from `models.tasks`)."""

from __future__ import annotations

from pathlib import Path

from models.artifact import BuiltArtifact, build_variant
from models.tasks import find_variant, variant_names

__all__ = ["BuiltArtifact", "build", "find_variant", "variant_names"]


def build(name: str, out_dir: Path | None = None, *, force: bool = False) -> BuiltArtifact:
    """Build variant `name` into `out_dir` (default: the user cache), reusing a build of the same source.

    KeyError(name) if no task has that variant."""
    return build_variant(find_variant(name), out_dir, force=force)
