"""Condition inducers with guaranteed restore: battery unplugged/level, thermal status, idle, screen.

Values are checked by the vocabulary (harness.devices.capabilities.CONDITIONS); this module knows
the commands that apply and undo each condition on a phone, and how to read back whether it took.

Every induced condition is first written to a journal on the phone, then applied, then read back (one
round trip): a phone that did not take it (no deviceidle service, an override it ignored) is a
DeviceError naming the condition, what was asked and what the phone reports, and its journal line stays
so `restore()` still undoes whatever did change (only a service the phone does not have at all drops it:
nothing was changed). `restore()` undoes them newest first and clears the journal. A harness killed
outright (SIGKILL, power cut) cannot run its `finally`, so opening the device again replays the journal it
left behind; not while another session holds the phone's lock (harness.devices.android.phone_lock): the
journal's conditions are then that session's, still in use.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import time
from collections.abc import Callable
from typing import Any

from harness.devices.android.phone_lock import LockOwner, live_other
from harness.devices.android.transport import Shell, sh_join
from harness.devices.capabilities import CONDITIONS as VOCABULARY
from harness.devices.lock import DeviceBusy
from harness.errors import DeviceError, UserError
from harness.telemetry.battery import parse_dumpsys_battery
from harness.telemetry.thermal import parse_thermalservice

__all__ = ["CONDITIONS", "Condition", "ConditionManager"]

_SEP = "@@harness-readback@@"
_MISSING = re.compile(r"^.*Can't find service.*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Condition:
    """One inducible condition: the command that applies it (given a checked value), the one that undoes it,
    and the read-back: `check` prints the phone's state, `verify(output, value)` is None when it shows the
    condition, else what the phone reports instead (a few words). `settle_s`: how long the phone may take."""

    name: str
    apply: Callable[[Any], list[str]]
    undo: tuple[str, ...]
    asked: Callable[[Any], str]
    check: tuple[str, ...]
    verify: Callable[[str, Any], str | None]
    settle_s: float = 0.0


def _unplugged(text: str, _value: Any) -> str | None:
    dump = parse_dumpsys_battery(text)
    if dump.ac_powered is None and dump.usb_powered is None:
        return "no battery state in `dumpsys battery`"
    powered = [k for k, v in (("AC", dump.ac_powered), ("USB", dump.usb_powered),
                              ("wireless", dump.wireless_powered), ("dock", dump.dock_powered)) if v]
    return f"{'/'.join(powered)} powered" if powered else None


def _battery_level(text: str, value: Any) -> str | None:
    level = parse_dumpsys_battery(text).level
    if level is None:
        return "no level in `dumpsys battery`"
    return None if abs(level - float(value)) < 0.5 else f"level {level:g}"


def _thermal_status(text: str, value: Any) -> str | None:
    dump = parse_thermalservice(text)
    if dump.status is None:
        return "no thermal status in `dumpsys thermalservice`"
    if dump.status == int(value) and dump.status_override is not False:
        return None
    return f"status {dump.status}" + (" (no override)" if dump.status_override is False else "")


def _idle(text: str, _value: Any) -> str | None:
    state = text.strip().splitlines()[-1].strip() if text.strip() else ""
    return None if state == "IDLE" else f"deep idle state {state or 'unknown'!r}"


def _screen_off(text: str, _value: Any) -> str | None:
    match = re.search(r"mWakefulness=(\w+)", text)
    if match is None:
        return "no mWakefulness in `dumpsys power`"
    return None if match[1] in ("Asleep", "Dozing") else f"wakefulness {match[1]}"


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        # the fuel gauge still sees USB power after `unplug`: use adb over Wi-Fi for valid energy
        Condition("unplugged", lambda _v: ["dumpsys", "battery", "unplug"], ("dumpsys", "battery", "reset"),
                  lambda _v: "unplugged", ("dumpsys", "battery"), _unplugged),
        Condition("battery_level", lambda v: ["dumpsys", "battery", "set", "level", str(v)],
                  ("dumpsys", "battery", "reset"), lambda v: f"level {v}", ("dumpsys", "battery"), _battery_level),
        Condition("thermal_status", lambda v: ["cmd", "thermalservice", "override-status", str(v)],
                  ("cmd", "thermalservice", "reset"), lambda v: f"status {v} (override)",
                  ("dumpsys", "thermalservice"), _thermal_status),
        Condition("idle", lambda _v: ["dumpsys", "deviceidle", "force-idle"], ("dumpsys", "deviceidle", "unforce"),
                  lambda _v: "deep idle (IDLE)", ("dumpsys", "deviceidle", "get", "deep"), _idle),
        Condition("screen_off", lambda _v: ["input", "keyevent", "KEYCODE_SLEEP"],
                  ("input", "keyevent", "KEYCODE_WAKEUP"), lambda _v: "screen off (Asleep or Dozing)",
                  ("dumpsys", "power"), _screen_off, settle_s=3.0),
    )
}


class ConditionManager:
    """Applies conditions on one phone and undoes every one of them, also after a crash.

    `lock_dir` and `token` name the phone's lock and this session (harness.devices.android.phone_lock):
    `holder` is the other session holding the phone as of the last `pending()` (None: free, stale or ours).
    """

    def __init__(self, shell: Shell, work_dir: str, lock_dir: str | None = None, token: str = ""):
        self.shell = shell
        self.journal = posixpath.join(work_dir, "conditions.journal")
        self._work_dir = work_dir
        self._lock_owner = posixpath.join(lock_dir, "owner") if lock_dir else None
        self._token = token
        self.holder: LockOwner | None = None

    def induce(self, name: str, value: Any = None) -> None:
        condition = CONDITIONS.get(name)
        if condition is None:
            raise UserError(f"unknown condition {name!r}; known: {', '.join(CONDITIONS)}")
        VOCABULARY[name].check(value)
        apply = sh_join(condition.apply(value))
        # Journal first: if the harness dies right after applying, the next open still undoes it. Then apply and
        # read back, in the same round trip.
        result = self.shell.run(
            f"mkdir -p {sh_join([self._work_dir])} && echo {sh_join([name])} >> {sh_join([self.journal])} || exit 1; "
            f"{apply} 2>&1; echo {_SEP} $?; {sh_join(condition.check)} 2>&1", check=False)
        if result.returncode != 0 and _SEP not in result.stdout:
            raise DeviceError(f"{self.shell.serial}: could not journal condition {name} in {self.journal}: "
                              f"{(result.stderr or result.stdout).strip()[:300]}")
        applied, _, rest = result.stdout.partition(_SEP)
        code, _, readback = rest.partition("\n")
        deadline = time.monotonic() + condition.settle_s
        report = condition.verify(readback, value)
        while report is not None and code.strip() == "0" and time.monotonic() < deadline:
            time.sleep(0.2)
            readback = self.shell.run(sh_join(condition.check) + " 2>&1", check=False).stdout
            report = condition.verify(readback, value)
        if report is None and code.strip() == "0":
            return
        missing = _MISSING.search(applied)
        if missing:
            report = missing[0].strip()
            self._unjournal(name)  # no service to apply it: nothing on the phone changed, nothing to undo
        elif code.strip() != "0":
            report = f"`{apply}` exited {code.strip()}: {' '.join(applied.split())[:200] or 'no output'}"
        raise DeviceError(f"{self.shell.serial}: condition {name} not taken: asked {condition.asked(value)} "
                          f"(`{apply}`), the phone reports {report}")

    def _unjournal(self, name: str) -> None:
        """Drop the journal's last line when it is `name` (the line this session just wrote)."""
        script = 'j=$1; [ "$(tail -n 1 "$j" 2>/dev/null)" = "$2" ] && sed -i \'$d\' "$j"; true'
        self.shell.run(sh_join(["sh", "-c", script, "sh", self.journal, name]), check=False)

    def pending(self) -> list[str]:
        """Conditions journalled on the phone and not yet undone, oldest first (and who holds the phone, in
        `holder`; the same round trip)."""
        lock = (f"; echo {_SEP}; cat {sh_join([self._lock_owner])} 2>/dev/null; echo now=$(date +%s)"
                if self._lock_owner else "")
        result = self.shell.run(f"cat {sh_join([self.journal])} 2>/dev/null{lock}; true")
        journal, _, owner = result.stdout.partition(_SEP)
        self.holder = live_other(owner, self._token) if self._lock_owner else None
        return [line.strip() for line in journal.splitlines() if line.strip() in CONDITIONS]

    def restore(self) -> list[str]:
        """Undo every journalled condition, newest first; try all, then report failures together.

        DeviceBusy, undoing nothing, while another session holds the phone: they are its conditions.
        """
        pending = self.pending()
        if self.holder is not None and pending:
            raise DeviceBusy(f"android:{self.shell.serial} is in use by {self.holder.describe()}: the conditions "
                             f"journalled on it ({', '.join(pending)}) are its own; restore after it finishes")
        undone: list[str] = []
        failures: list[str] = []
        for name in reversed(pending):
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
