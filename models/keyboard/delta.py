"""A user's personalization delta on disk, and the one call that removes it.

Format (`DELTA_FORMAT` 1): an uncompressed `.npz` (numpy's zip of `.npy` arrays). For a gradient
technique, one float32 array per personalization parameter, named as the artifact's `get_weights` /
`set_weights` signature names it (e.g. `head_lora_b_kernel`, shape (rank, vocab)); for the n-gram cache,
the `ngram.NGram` arrays (uint16 word ids, uint32 counts). Plus `delta_format` (int64 scalar) and
`variant` (the artifact name as uint8 bytes). No words, only numbers: the n-gram's ids still say which
word pairs the user typed (through the public vocabulary), the gradient deltas only how the model moved.

A store keeps one file per user under its root, named by a hash of the user id so a listing does not
name people; `forget(user)` deletes it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from models.cache import atomic_write_bytes

__all__ = ["DELTA_FORMAT", "delta_bytes", "read_delta", "DeltaStore"]

DELTA_FORMAT = 1


def delta_bytes(variant: str, weights: dict[str, np.ndarray]) -> bytes:
    """The delta file's bytes (names sorted, so equal deltas give equal bytes)."""
    reserved = {"delta_format", "variant"} & set(weights)
    if reserved:
        raise ValueError(f"delta array name {sorted(reserved)[0]!r} is reserved")
    buf = io.BytesIO()
    arrays = {k: np.ascontiguousarray(weights[k]) for k in sorted(weights)}
    np.savez(buf, delta_format=np.int64(DELTA_FORMAT), variant=np.frombuffer(variant.encode(), np.uint8), **arrays)
    return buf.getvalue()


def read_delta(data: bytes) -> tuple[str, dict[str, np.ndarray]]:
    """(variant, arrays) of a delta file; ValueError for another format version."""
    with np.load(io.BytesIO(data)) as f:
        version = int(f["delta_format"]) if "delta_format" in f.files else None
        if version != DELTA_FORMAT:
            raise ValueError(f"delta format {version!r} is not {DELTA_FORMAT}")
        return bytes(f["variant"]).decode(), {k: f[k] for k in f.files if k not in ("delta_format", "variant")}


class DeltaStore:
    """One delta file per user under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, user: str) -> Path:
        return self.root / f"{hashlib.sha256(user.encode()).hexdigest()[:24]}.delta.npz"

    def save(self, user: str, variant: str, weights: dict[str, np.ndarray]) -> Path:
        path = self.path(user)
        atomic_write_bytes(path, delta_bytes(variant, weights))
        return path

    def load(self, user: str) -> tuple[str, dict[str, np.ndarray]] | None:
        path = self.path(user)
        return read_delta(path.read_bytes()) if path.exists() else None

    def forget(self, user: str) -> bool:
        """Delete `user`'s personalization; True if there was one."""
        path = self.path(user)
        if not path.exists():
            return False
        path.unlink()
        return True
