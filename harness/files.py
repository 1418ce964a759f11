"""Writing files so that readers never see half of one and a bad output path is one clear line."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from harness.errors import UserError

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` to `path` through a temp file and a rename (the parent is created).

    UserError, and no temp file left behind, when `path` is a directory or cannot be written (a
    read-only or full disk, a parent that is a file).
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory: give a file name (e.g. {path / 'out'}{path.suffix or '.html'})")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # e.g. the parent is a file: there is no temp file to remove
            tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
