"""The lock on the phone itself: one harness session drives a phone, also across hosts of a lab.

The host-side flock (harness.devices.lock) keeps two processes of one host apart; two hosts whose adb
servers reach one phone (a shared lab phone, adb over Wi-Fi) only meet on the phone. There the lock is a
directory, `<root>/lock`, made with `mkdir` (atomic: one maker wins) and holding `owner`:

    token=<session token>   the holding session (harness.devices.android.staging.session_token)
    owner=<who and what>    e.g. "lab-3 pid 4242, bench of suite 'nightly'"
    host=<hostname>
    pid=<host pid>
    since=<phone epoch s>   when it was taken
    expires=<phone epoch s> the lease: renewed before each job to cover that job's timeout

Times are the phone's wall clock (`date +%s`), the only clock both a holder and a later claimant read and
one that a reboot does not restart. A lock whose lease expired is stale: its holder died without
`close()` (or lost the phone for longer than its lease). A claimant takes a stale lock over by making
`takeover.<stale token>` inside it (atomic again, so of two claimants only one takes over) and rewriting
`owner`; the stale holder's next renewal finds another token and fails. Release removes the directory only
while `owner` names this session.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time

from harness.devices.android.transport import Shell, sh_join
from harness.devices.lock import DeviceBusy
from harness.errors import DeviceError

__all__ = ["LEASE_S", "LockOwner", "PhoneLock"]

LEASE_S = 900.0  # the longest gap between renewals outside jobs (describe, staging, cooldown, baseline)
LOST = 75  # exit status of a renewal that found another owner

# $1 lock dir, $2 token, $3 owner, $4 host, $5 pid, $6 lease seconds, $7 a token to take over although its
# lease runs (a holder of this host whose process is gone). Prints a verdict line (acquired,
# renewed, stale, busy, busy-takeover), then the previous owner file and now=<phone epoch>.
_CLAIM = r"""L=$1; tok=$2; own=$3; host=$4; pid=$5; lease=$6
field() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -n 1; }
write() {
  printf 'token=%s\nowner=%s\nhost=%s\npid=%s\nsince=%s\nexpires=%s\n' "$tok" "$own" "$host" "$pid" "$1" \
    "$((now + lease))" > "$L/owner.$tok" && mv -f "$L/owner.$tok" "$L/owner"
}
mkdir -p "${L%/*}" || exit 1
for attempt in 1 2 3; do
  now=$(date +%s)
  if mkdir "$L" 2>/dev/null; then write "$now" || exit 1; echo acquired; exit 0; fi
  o=$(cat "$L/owner" 2>/dev/null)
  if [ -z "$o" ]; then sleep 1; o=$(cat "$L/owner" 2>/dev/null); fi
  [ -n "$o" ] || [ -d "$L" ] || continue
  otok=$(field "$o" token); exp=$(field "$o" expires)
  case $exp in ''|*[!0-9]*) exp=0;; esac
  if [ -n "$otok" ] && [ "$otok" = "$tok" ]; then write "$(field "$o" since)" || exit 1; echo renewed; exit 0; fi
  if [ "$now" -le "$exp" ] && [ "$otok" != "$7" ]; then echo busy
  elif mkdir "$L/takeover.${otok:-unknown}" 2>/dev/null; then write "$now" || exit 1; echo stale
  else echo busy-takeover
  fi
  printf '%s\n' "$o"; echo "now=$now"; exit 0
done
echo busy-takeover; echo "now=$now"
"""

# $1 lock dir, $2 token, $3 lease seconds: push the lease on, or exit LOST printing who holds it now.
_RENEW = r"""L=$1; tok=$2; o=$(cat "$L/owner" 2>/dev/null)
if [ "$(printf '%s\n' "$o" | sed -n 's/^token=//p' | head -n 1)" != "$tok" ]; then printf '%s\n' "$o"; exit 75; fi
now=$(date +%s)
printf '%s\n' "$o" | sed "s/^expires=.*/expires=$((now + $3))/" > "$L/owner.$tok" && mv -f "$L/owner.$tok" "$L/owner"
"""

# $1 lock dir, $2 token: remove the lock only while it is this session's.
_RELEASE = r"""L=$1
if [ "$(sed -n 's/^token=//p' "$L/owner" 2>/dev/null | head -n 1)" = "$2" ]; then rm -rf "$L"; fi
"""


@dataclasses.dataclass(frozen=True)
class LockOwner:
    """A lock's `owner` file, read back."""

    token: str = ""
    owner: str = ""
    host: str = ""
    pid: str = ""
    since: float | None = None
    expires: float | None = None

    @classmethod
    def parse(cls, text: str) -> LockOwner:
        fields = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)

        def number(key: str) -> float | None:
            value = fields.get(key, "")
            return float(value) if value.isdigit() else None

        return cls(fields.get("token", ""), fields.get("owner", ""), fields.get("host", ""), fields.get("pid", ""),
                   number("since"), number("expires"))

    def describe(self) -> str:
        """`<owner> (host H, pid P, since T)`: the holder, in one line."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since)) if self.since else "?"
        return f"{self.owner or 'unknown holder'} (host {self.host or '?'}, pid {self.pid or '?'}, since {since})"


class PhoneLock:
    """The phone-side lock of one session (`token`); see the module docstring for the format."""

    def __init__(self, shell: Shell, lock_dir: str, token: str):
        self.shell, self.path, self.token = shell, lock_dir, token
        self.held = False
        self.note = ""  # set by a claim that took a stale lock over: whose and since when

    def claim(self, owner: str, lease_s: float = LEASE_S) -> str:
        """Take the lock (or renew it if this session holds it); DeviceBusy naming a live holder.

        A lock is stale when its lease expired, or when its holder was a process of this host that is gone
        (killed outright: its lease would keep the phone for nothing). Returns "acquired", "renewed" or
        "stale" (a stale lock was taken over; `note` says whose).
        """
        owner = " ".join(owner.split())  # one line in the owner file
        host = socket.gethostname() or "?"
        verdict, previous = self._claim(owner, host, lease_s, "")
        if verdict == "busy" and previous.host == host and not _alive(previous.pid):
            verdict, previous = self._claim(owner, host, lease_s, previous.token)
            if verdict == "stale":
                self.note = (f"took over the lock of {previous.describe()}: that process of this host is gone")
                return verdict
        return self._verdict(verdict, previous)

    def _claim(self, owner: str, host: str, lease_s: float, force: str) -> tuple[str, LockOwner]:
        result = self.shell.run(sh_join(["sh", "-c", _CLAIM, "sh", self.path, self.token, owner, host,
                                         str(os.getpid()), str(int(lease_s)), force]), check=False)
        verdict, _, rest = result.stdout.partition("\n")
        previous = LockOwner.parse(rest)
        if result.returncode != 0 or verdict not in ("acquired", "renewed", "stale", "busy", "busy-takeover"):
            raise DeviceError(f"{self.shell.serial}: could not take the phone's lock {self.path}: "
                              f"{(result.stderr or result.stdout).strip()[:300] or f'exit {result.returncode}'}")
        if verdict in ("stale", "acquired", "renewed"):
            self.held = True
        return verdict, previous

    def _verdict(self, verdict: str, previous: LockOwner) -> str:
        where = f"android:{self.shell.serial}"
        if verdict == "busy":
            until = time.strftime("%H:%M:%S", time.localtime(previous.expires)) if previous.expires else "?"
            raise DeviceBusy(f"{where} is in use by {previous.describe()}, lease until {until} (phone clock); wait "
                             "for it to finish or stop it (a harness that died leaves a lease that expires)")
        if verdict == "busy-takeover":
            raise DeviceBusy(f"{where}: another harness is taking over the stale lock of {previous.describe()}; try "
                             f"again, or if none is: adb -s {sh_join([self.shell.serial])} shell rm -rf "
                             f"{sh_join([self.path])}")
        if verdict == "stale":
            self.note = f"took over the stale lock of {previous.describe()} (its lease had expired)"
        return verdict

    def renew_command(self, lease_s: float) -> str:
        """The quoted command that renews this session's lease, exiting LOST if another holds the lock."""
        return sh_join(["sh", "-c", _RENEW, "sh", self.path, self.token, str(int(lease_s))])

    def lost(self, stdout: str) -> DeviceBusy:
        """The error for a renewal that exited LOST with the current owner file in `stdout`."""
        self.held = False
        now = LockOwner.parse(stdout)
        holder = now.describe() if now.token else "nobody (the lock was removed)"
        return DeviceBusy(f"android:{self.shell.serial}: this harness lost the phone's lock (its lease expired); it "
                          f"is now held by {holder}")

    def renew(self, lease_s: float, then: str = "") -> None:
        """Push the lease `lease_s` on (DeviceBusy if another took the lock over), then run `then` (quoted)."""
        result = self.shell.run(self.renew_command(lease_s) + (f" && {then}" if then else ""), check=False)
        if result.returncode == LOST:
            raise self.lost(result.stdout)
        if result.returncode != 0:
            raise DeviceError(f"{self.shell.serial}: could not renew the phone's lock: "
                              f"{(result.stderr or result.stdout).strip()[:300]}")

    def release_command(self) -> str:
        return sh_join(["sh", "-c", _RELEASE, "sh", self.path, self.token])

    def holder(self) -> LockOwner | None:
        """The live holder when it is another session; None when the lock is free, stale or this session's."""
        result = self.shell.run(f"cat {sh_join([self.path + '/owner'])} 2>/dev/null; echo now=$(date +%s)",
                                check=False)
        return live_other(result.stdout, self.token)


def _alive(pid: str) -> bool:
    """Whether process `pid` of this host runs (True when unknown: never take a live holder's lock)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


def live_other(text: str, token: str) -> LockOwner | None:
    """From an owner file followed by `now=<phone epoch>`: its owner if that is another session with a live lease."""
    owner = LockOwner.parse(text)
    now = next((float(v) for k, _, v in (line.partition("=") for line in text.splitlines())
                if k == "now" and v.isdigit()), None)
    if not owner.token or owner.token == token or owner.expires is None or now is None or now > owner.expires:
        return None
    return owner
