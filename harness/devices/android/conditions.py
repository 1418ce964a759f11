"""Condition inducers with guaranteed restore: battery unplugged/level, thermal status, idle, screen.

Every induced condition is first written to a journal on the phone, then applied; `restore()` undoes
them newest first and clears the journal. A harness killed outright (SIGKILL, power cut) cannot run
its `finally`, so opening the device again replays the journal it left behind.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable
from typing import Any

from harness.devices.android.transport import Shell, sh_join
from harness.errors import DeviceError, UserError

__all__ = ["CONDITIONS", "Condition", "ConditionManager"]


@dataclasses.dataclass(frozen=True)
class Condition:
    """One inducible condition: how to apply it (given a checked value) and the command that undoes it."""

    name: str
    apply: Callable[[Any], list[str]]
    undo: tuple[str, ...]
    help: str


def _level(value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise UserError(f"battery_level must be an integer 0..100, got {value!r}")
    return ["dumpsys", "battery", "set", "level", str(value)]


def _thermal(value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise UserError(f"thermal_status must be an integer 0 (none) .. 6 (shutdown), got {value!r}")
    return ["cmd", "thermalservice", "override-status", str(value)]


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("unplugged", lambda _v: ["dumpsys", "battery", "unplug"], ("dumpsys", "battery", "reset"),
                  "the framework believes no charger is attached (the fuel gauge still sees USB power)"),
        Condition("battery_level", _level, ("dumpsys", "battery", "reset"), "the framework reports this level"),
        Condition("thermal_status", _thermal, ("cmd", "thermalservice", "reset"), "override the thermal status 0..6"),
        Condition("idle", lambda _v: ["dumpsys", "deviceidle", "force-idle"], ("dumpsys", "deviceidle", "unforce"),
                  "force Doze deep idle"),
        Condition("screen_off", lambda _v: ["input", "keyevent", "KEYCODE_SLEEP"], ("input", "keyevent", "KEYCODE_WAKEUP"),
                  "turn the screen off (turned back on at restore)"),
    )
}


class ConditionManager:
    """Applies conditions on one phone and undoes every one of them, also after a crash."""

    def __init__(self, shell: Shell, work_dir: str):
        self.shell = shell
        self.journal = posixpath.join(work_dir, "conditions.journal")
        self._work_dir = work_dir

    def induce(self, name: str, value: Any = None) -> None:
        condition = CONDITIONS.get(name)
        if condition is None:
            raise UserError(f"unknown condition {name!r}; known: {', '.join(CONDITIONS)}")
        command = condition.apply(value)
        # Journal first: if the harness dies right after applying, the next open still undoes it.
        self.shell.run(f"mkdir -p {sh_join([self._work_dir])} && echo {sh_join([name])} >> {sh_join([self.journal])}")
        self.shell.run(sh_join(command))

    def pending(self) -> list[str]:
        """Conditions journalled on the phone and not yet undone, oldest first."""
        result = self.shell.run(f"cat {sh_join([self.journal])} 2>/dev/null; true")
        return [line.strip() for line in result.stdout.splitlines() if line.strip() in CONDITIONS]

    def restore(self) -> list[str]:
        """Undo every journalled condition, newest first; try all, then report failures together."""
        undone: list[str] = []
        failures: list[str] = []
        for name in reversed(self.pending()):
            undo = CONDITIONS[name].undo
            if any(CONDITIONS[u].undo == undo for u in undone):
                continue  # `dumpsys battery reset` undoes both unplugged and battery_level
            try:
                self.shell.run(sh_join(undo))
                undone.append(name)
            except DeviceError as exc:
                failures.append(f"{name}: {exc}")
        if failures:
            raise DeviceError(f"{self.shell.serial}: could not restore " + "; ".join(failures))
        self.shell.run(f"rm -f {sh_join([self.journal])}")
        return undone
