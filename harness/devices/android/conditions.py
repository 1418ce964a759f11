"""Condition inducers with guaranteed restore: battery unplugged/level, thermal status, idle, screen.

Values are checked by the vocabulary (harness.devices.capabilities.CONDITIONS); this module knows
the commands that apply and undo each condition on a phone.

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
from harness.devices.capabilities import CONDITIONS as VOCABULARY
from harness.errors import DeviceError, UserError

__all__ = ["CONDITIONS", "Condition", "ConditionManager"]


@dataclasses.dataclass(frozen=True)
class Condition:
    """One inducible condition: the command that applies it (given a checked value) and the one that undoes it."""

    name: str
    apply: Callable[[Any], list[str]]
    undo: tuple[str, ...]


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        # the fuel gauge still sees USB power after `unplug`: use adb over Wi-Fi for valid energy
        Condition("unplugged", lambda _v: ["dumpsys", "battery", "unplug"], ("dumpsys", "battery", "reset")),
        Condition("battery_level", lambda v: ["dumpsys", "battery", "set", "level", str(v)],
                  ("dumpsys", "battery", "reset")),
        Condition("thermal_status", lambda v: ["cmd", "thermalservice", "override-status", str(v)],
                  ("cmd", "thermalservice", "reset")),
        Condition("idle", lambda _v: ["dumpsys", "deviceidle", "force-idle"], ("dumpsys", "deviceidle", "unforce")),
        Condition("screen_off", lambda _v: ["input", "keyevent", "KEYCODE_SLEEP"],
                  ("input", "keyevent", "KEYCODE_WAKEUP")),
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
        VOCABULARY[name].check(value)
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
                failures.append(f"{name} (undo it by hand: adb -s {sh_join([self.shell.serial])} shell "
                                f"{sh_join(undo)}; {exc})")
        if failures:
            raise DeviceError(f"{self.shell.serial}: could not restore " + "; ".join(failures)
                              + f"; then clear the record: harness restore android:{self.shell.serial} --forget")
        self.forget()
        return undone

    def forget(self) -> None:
        """Drop the journal without undoing anything (its conditions were undone by hand)."""
        self.shell.run(f"rm -f {sh_join([self.journal])}")
