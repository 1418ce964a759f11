"""Where built artifacts and converted datasets live: a user cache directory, keyed by content.

An artifact is rebuilt only when the code that builds it (every module of `models/`) changes.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["cache_root", "source_hash", "atomic_write_bytes", "write_npz", "write_examples", "cached_arrays"]

_MODELS_DIR = Path(__file__).resolve().parent


def cache_root() -> Path:
    """`$HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/phone-harness`, else `~/.cache/phone-harness`."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phone-harness"


def source_hash(*relative: str) -> str:
    """sha256 over the source of the `models` package (or only the given files under it).

    The whole package is the build recipe of every artifact; a cached intermediate (e.g. trained
    global weights) names only the modules it depends on, so unrelated edits do not retrain it.
    """
    digest = hashlib.sha256()
    paths = [_MODELS_DIR / r for r in relative] if relative else _MODELS_DIR.rglob("*.py")
    for path in sorted(paths):
        digest.update(path.relative_to(_MODELS_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` as an .npz at `path`, written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_examples(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """A task's staged data file: examples `x` as float32 and labels `y` as int32 (what every runner reads)."""
    write_npz(path, {"x": x.astype(np.float32), "y": y.astype(np.int32)})


def cached_arrays(name: str, convert: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays saved as `<cache>/data/<name>.npz`, computed by `convert()` the first time only."""
    path = cache_root() / "data" / f"{name}.npz"
    if not path.exists():
        write_npz(path, convert())
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}
