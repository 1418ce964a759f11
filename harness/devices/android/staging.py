"""Staging under /data/local/tmp/<our dir>: content-addressed, sha256-checked, pushed only when changed.

What lives where on the phone (`DEVICE_ROOT`):

    artifacts/<sha256><suffix>   staged models and data, shared by every session (immutable by name)
    bin/                         the sampler script, `benchmark_model-<sha256>` (content-addressed too)
    runs/<session token>/jobs/   this session's job files; removed on close
    conditions.journal           conditions induced and not yet undone (one phone, one journal)
    lock/owner                   the phone-side lock (harness.devices.android.phone_lock)

A session is one opened device in one harness process; its token (`session_token`) names the host, pid,
time and a counter, so two sessions, on one host or two, never write the same per-job path.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Sequence
from pathlib import Path

from harness.devices.android.transport import Shell, sh_join
from harness.devices.session import session_token
from harness.errors import DeviceError

__all__ = ["DEVICE_ROOT", "StagedFile", "Stager", "session_dir", "session_token"]

DEVICE_ROOT = "/data/local/tmp/phonebench"


def session_dir(root: str, token: str) -> str:
    """Where session `token` keeps its per-job files on the phone."""
    return posixpath.join(root, "runs", token)


@dataclasses.dataclass(frozen=True)
class StagedFile:
    """One host file and where it goes on the phone."""

    source: Path
    sha256: str
    device_path: str
    mode: int = 0o644


class Stager:
    """Pushes files whose device copy is missing or has another sha256; verifies after pushing."""

    def __init__(self, shell: Shell, root: str = DEVICE_ROOT):
        self.shell, self.root = shell, root
        self.pushed: list[str] = []  # device paths pushed by this stager (tests and logs read it)

    def artifact_path(self, sha256: str, suffix: str) -> str:
        # Content-addressed: two variants with the same bytes share one file, and a name from a
        # suite never reaches a device path.
        return posixpath.join(self.root, "artifacts", sha256 + suffix)

    def stage(self, files: Sequence[StagedFile]) -> None:
        current = self.device_sha256([f.device_path for f in files])
        stale = [f for f in files if current[f.device_path] != f.sha256]
        if not stale:
            return
        dirs = sorted({posixpath.dirname(f.device_path) for f in stale})
        self.shell.run(sh_join(["mkdir", "-p", *dirs]))
        for f in stale:
            self.shell.push(f.source.read_bytes(), f.device_path, f.mode)
            self.pushed.append(f.device_path)
        after = self.device_sha256([f.device_path for f in stale])
        for f in stale:
            if after[f.device_path] != f.sha256:
                raise DeviceError(
                    f"{self.shell.serial}: {f.device_path} has sha256 {after[f.device_path]} after push, "
                    f"expected {f.sha256} (storage full or failing?)"
                )

    def device_sha256(self, paths: Sequence[str]) -> dict[str, str | None]:
        """sha256 of each path on the phone (None when missing), one round trip.

        Reads stdin of toybox `sha256sum` per file so the answer comes back in argument order and
        never depends on how the phone prints a path.
        """
        script = 'for p in "$@"; do if [ -f "$p" ]; then sha256sum < "$p"; else echo -; fi; done'
        result = self.shell.run(sh_join(["sh", "-c", script, "sh", *paths]))
        digests = [line.split()[0] if line.strip() else "-" for line in result.stdout.splitlines()]
        if len(digests) != len(paths):
            raise DeviceError(f"{self.shell.serial}: sha256 check answered {len(digests)} lines for {len(paths)} files")
        return {path: (None if d == "-" else d) for path, d in zip(paths, digests, strict=True)}
