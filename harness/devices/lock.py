"""One harness process per device: an exclusive lock per device id, held for a whole bench.

The lock is `flock` on a file per device under `$HARNESS_LOCK_DIR` (default: `<tmp>/phonebench-locks`),
shared by every user and process of this host; the kernel drops it when its holder dies, so a killed
bench never leaves a stale lock. The file names the holder (pid, run, since) for the one-line refusal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from harness.errors import DeviceError

__all__ = ["DeviceBusy", "lock_dir", "device_lock"]


class DeviceBusy(DeviceError):
    """Another harness process holds the device."""


def lock_dir() -> Path:
    return Path(os.environ.get("HARNESS_LOCK_DIR") or Path(tempfile.gettempdir()) / "phonebench-locks")


@contextlib.contextmanager
def device_lock(device_id: str, holder: str) -> Iterator[None]:
    """Hold `device_id` exclusively while the block runs; DeviceBusy naming the holder if another has it.

    `holder` says what this process does with it (e.g. "bench of suite default").
    """
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        folder.chmod(0o1777)  # one lock folder for every user of the host, like /tmp
    path = folder / f"{urllib.parse.quote(device_id, safe='')}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeviceBusy(f"{device_id} is in use by another harness process ({_holder(path)}); wait for it "
                             "to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "holder": holder, "since": time.time()}).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        owner = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["since"]))
        return f"pid {owner['pid']}, {owner['holder']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
