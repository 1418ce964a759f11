"""Session tokens: one opened device in one harness process, named so that no two sessions, on one host or
two, share a per-job path on a phone."""

from __future__ import annotations

import itertools
import os
import re
import socket
import time

__all__ = ["session_token"]

_SESSIONS = itertools.count()


def session_token(hostname: str | None = None, pid: int | None = None, now: float | None = None) -> str:
    """A name for one session, unique per process and opened device: `<host>-<pid>-<ms>-<n>`, only
    `[A-Za-z0-9._-]` (safe as one device path component, never `.`/`..` or starting with `-`)."""
    host = hostname if hostname is not None else socket.gethostname()
    stamp = int((time.time() if now is None else now) * 1000)
    raw = f"{host}-{os.getpid() if pid is None else pid}-{stamp}-{next(_SESSIONS)}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)[-100:].lstrip(".-")
