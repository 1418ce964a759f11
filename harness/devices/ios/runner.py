"""Running one protocol job with the companion app: DVT ProcessControl launches it with the job's container
path as its argument, and its stdout (one JSON event per line, `OutputReceivedEvent`s of whatever size)
streams back until `finished` or `error`.

    launch(org.phonebench.runner, arguments=["--job", "Documents/phonebench/runs/<token>/jobs/<id>.json"])
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import queue
import time
from collections.abc import Callable
from typing import Any

from harness.devices.base import EventCallback
from harness.devices.ios.phone import BUNDLE_ID, Phone
from harness.devices.ios.transport import LOOP, explain
from harness.errors import CompanionAppError, DeviceError, DeviceTimeout
from harness.events import Received

__all__ = ["LINE_LIMIT", "Lines", "json_event", "run_job"]

LINE_LIMIT = 1 << 20  # an event line longer than this is not one of ours
_ALIVE_S = 2.0  # with no output for this long, ask whether the app still runs


def json_event(line: str) -> dict[str, Any] | None:
    """The protocol event on one output line, None for any other line. Sample: `{"event": "started", ...}`."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


class Lines:
    """Reassembles lines from output chunks (a chunk may hold part of a line or several)."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, chunk: str) -> list[str]:
        text = self._partial + chunk
        *lines, self._partial = text.split("\n")
        if len(self._partial) > LINE_LIMIT:
            lines.append(self._partial)
            self._partial = ""
        return [line.rstrip("\r") for line in lines]


async def _launch(phone: Phone, job_path: str, out: queue.Queue[tuple[str, Any]], stop: asyncio.Event) -> None:
    """Launch the app, hand its output chunks and liveness to `out` until `stop`, then kill it if it runs."""
    dvt = await phone.open_dvt()
    async with phone.api.ProcessControl(dvt) as control, phone.api.DeviceInfo(dvt) as info:
        pid = await control.launch(BUNDLE_ID, arguments=["--job", job_path], kill_existing=True,
                                   environment={"PHONEBENCH_JOB": job_path})
        out.put(("pid", pid))
        chunks: asyncio.Queue[str] = asyncio.Queue()

        async def pump() -> None:
            async for received in control:
                if received.pid == pid:
                    await chunks.put(received.message)

        pumping = asyncio.ensure_future(pump())
        try:
            while not stop.is_set():
                try:
                    out.put(("output", await asyncio.wait_for(chunks.get(), _ALIVE_S)))
                except asyncio.TimeoutError:
                    if not await info.is_running_pid(pid):
                        out.put(("exited", pid))
                        await stop.wait()
        finally:
            pumping.cancel()
            if await info.is_running_pid(pid):
                await control.kill(pid)


def run_job(phone: Phone, job_path: str, job_id: str, on_event: EventCallback | None, timeout_s: float,
            on_pid: Callable[[int], None], on_thermal: Callable[[int, str], None]) -> list[dict[str, Any]]:
    """Stream one job's events (see the module docstring); DeviceTimeout after `timeout_s`."""
    where = f"ios:{phone.udid}"
    out: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = asyncio.Event()
    future = LOOP.submit(_launch(phone, job_path, out, stop))
    received, lines = Received(on_event), Lines()
    other: collections.deque[str] = collections.deque(maxlen=40)
    deadline = time.monotonic() + timeout_s
    try:
        while not received.ended:
            try:
                kind, value = out.get(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if future.done():
                    break
                if time.monotonic() > deadline:
                    raise DeviceTimeout(f"{where}: job {job_id} did not finish within {timeout_s:g} s") from None
                continue
            if kind == "pid":
                on_pid(value)
            elif kind == "exited":
                break
            for line in lines.feed(value) if kind == "output" else []:
                event = json_event(line)
                if event is None:
                    other.append(line)
                    continue
                received(event)
                if event["event"] == "thermal" and isinstance(event.get("state"), str):
                    on_thermal(int(event.get("t_ns", 0)), event["state"])
    except BaseException:
        LOOP.loop().call_soon_threadsafe(stop.set)
        with contextlib.suppress(Exception):
            future.result(30)
        raise
    LOOP.loop().call_soon_threadsafe(stop.set)
    try:
        future.result(30)
    except Exception as exc:  # noqa: BLE001 (a launch or stream failure, worded once)
        if not received.ended:
            raise DeviceError(f"{where}: job {job_id}: {explain(exc)}") from exc
    if received.ended:
        return received.events
    tail = " | ".join(line for line in other if line.strip())[-300:]
    raise CompanionAppError(f"{where}: the companion exited during job {job_id} without finished/error after "
                            f"{received.count} events: {tail or 'no output'}")
