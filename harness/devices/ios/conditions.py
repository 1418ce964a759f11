"""Thermal conditions on an iPhone through DVT's ConditionInducer, with a journal and guaranteed restore.

A suite's `thermal_status` (the Android scale the policies use) maps to the phone's ThermalCondition
profiles: 1 -> ThermalFair, 3 -> ThermalSerious, 4 -> ThermalCritical. The phone keeps a condition only
while the DVT connection that set it lives, so the inducer's channel stays open from `induce` to `restore`
(the whole measurement) and `restore` clears it in the caller's `finally`. Each induced condition is
journalled first, on this host (`<lock dir>/ios-<udid>.conditions`, beside the device locks): a harness
killed outright drops its connection, which ends the condition on the phone, and the next open of that
phone clears whatever is active and drops the journal (`recovered`), as Android replays its own.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from harness.devices.capabilities import CONDITIONS as VOCABULARY
from harness.devices.ios.phone import Phone
from harness.devices.ios.transport import LOOP
from harness.devices.lock import lock_dir
from harness.errors import DeviceError, UserError

__all__ = ["PROFILES", "GROUP", "ConditionJournal", "IosConditions"]

GROUP = "ThermalCondition"
PROFILES = {1: "ThermalFair", 3: "ThermalSerious", 4: "ThermalCritical"}


class ConditionJournal:
    """The host-side record of conditions induced on one iPhone and not yet undone, one name a line."""

    def __init__(self, udid: str, folder: Path | None = None):
        self.path = (folder or lock_dir()) / f"ios-{urllib.parse.quote(udid, safe='')}.conditions"

    def pending(self) -> list[str]:
        try:
            return [line for line in self.path.read_text().splitlines() if line in VOCABULARY]
        except FileNotFoundError:
            return []

    def add(self, name: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as journal:
            journal.write(name + "\n")

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


class IosConditions:
    """Induces `thermal_status` on one phone and undoes it (also what a killed run left)."""

    def __init__(self, phone: Phone, journal: ConditionJournal):
        self.phone, self.journal = phone, journal
        self._inducer: Any = None
        self.active = ""  # the profile set by this session

    def induce(self, name: str, value: Any) -> None:
        if name != "thermal_status":
            raise UserError(f"ios:{self.phone.udid} induces only thermal_status, not {name!r}")
        VOCABULARY[name].check(value)
        if value not in PROFILES:
            raise UserError(f"ios:{self.phone.udid}: thermal_status {value} has no iOS profile; use "
                            + ", ".join(f"{k} ({v})" for k, v in PROFILES.items()))
        self.journal.add(name)
        LOOP.call(self._set(PROFILES[value]), f"ios:{self.phone.udid}: condition {PROFILES[value]}")

    async def _set(self, profile: str) -> None:
        if self._inducer is None:
            inducer = self.phone.api.ConditionInducer(await self.phone.open_dvt())
            await inducer.__aenter__()
            self._inducer = inducer
        groups = await self._inducer.list()
        offered = [p.get("identifier") for g in groups if g.get("identifier") == GROUP for p in g.get("profiles", [])]
        if profile not in offered:
            raise DeviceError(f"ios:{self.phone.udid}: the phone offers no {profile} (its {GROUP} profiles: "
                              f"{', '.join(map(str, offered)) or 'none'})")
        await self._inducer.set(profile)
        self.active = profile
        group = next(g for g in await self._inducer.list() if g.get("identifier") == GROUP)
        if not group.get("isActive") or group.get("activeProfile", profile) != profile:
            raise DeviceError(f"ios:{self.phone.udid}: condition thermal_status not taken: asked {profile}, the phone "
                              f"reports {GROUP} active={group.get('isActive')!r} "
                              f"profile={group.get('activeProfile', '?')!r}")

    def restore(self) -> list[str]:
        """Clear the active condition and close its channel; drop the journal. What was undone."""
        pending = self.journal.pending()
        if self._inducer is None and not pending:
            return []
        LOOP.call(self._clear(), f"ios:{self.phone.udid}: clear condition (undo by hand: `python -m pymobiledevice3 "
                                 "developer dvt condition clear`, then `harness restore ID --forget`)")
        self.journal.forget()
        return pending

    async def _clear(self) -> None:
        inducer = self._inducer or self.phone.api.ConditionInducer(await self.phone.open_dvt())
        if self._inducer is None:
            await inducer.__aenter__()
        try:
            await inducer.clear()
        finally:
            self._inducer, self.active = None, ""
            await inducer.__aexit__(None, None, None)
