"""Where a run came from: git commit, host, package versions (stored in every run manifest)."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

__all__ = ["git_commit", "host_info", "package_versions"]

_PACKAGES = ("ai-edge-litert", "tensorflow", "numpy", "pandas", "pyarrow", "duckdb", "plotly", "adbutils")


def git_commit(where: Path | None = None) -> str:
    """HEAD of the checkout holding `where` (default: this package), `+dirty` if modified; else `unknown`."""
    cwd = where or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def host_info() -> dict[str, str]:
    return {"hostname": platform.node(), "platform": platform.platform(), "python": platform.python_version()}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
