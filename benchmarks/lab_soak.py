"""Device-lab soak: 8 stand-in phones on 3 lab hosts driven for a bounded time while faults are injected.

Benches run back to back on every phone (jobs spend their time on the phone: scripted invokes); an
incomplete run is resumed (`bench --resume`'s `resume_bench`) once its phones are back. Every
`--fault-every` seconds one fault, in turn:

- `vanish`: a phone drops off its adb server (`adb disconnect`) and returns 3 s later;
- `agent`: a host's `harness lab agent` is killed (SIGKILL) and restarted 2 s later (its phones' actors die);
- `runner`: the runner on a phone crashes mid-job (its `am instrument` process is killed);
- `telemetry`: the phone's next telemetry file comes back cut short (the harness must pull it again).

A fault is recovered when each phone it hit later ran a job that ended `ok` (and, for `telemetry`, no sample
of the cut file was lost). Samples lost: readings the phones' sampler files held that the harness never got
(tests/adbd_standin.py logs every pull). Open fds, threads and RSS of the orchestrator (this process) and of
each host's agent are read after the first run and at the end. Prints the report; exit 1 when a sample was
lost, a fault was not recovered or a resource grew (fds or threads by more than 5, RSS by more than 20 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.store import utc_now  # noqa: E402
from tests.adbd_standin import tool_args  # noqa: E402
from tests.lab_cluster import (  # noqa: E402
    EIGHT_PHONES,
    LabCluster,
    eight_phone_lab,
    enter_fresh_netns,
    serves,
    stop_tree,
)

FAULTS = ("vanish", "agent", "runner", "telemetry")


@dataclasses.dataclass
class Fault:
    kind: str
    phones: list[str]  # device ids it hit
    at_utc: str  # when it was injected, as the store writes times (compared with the rows' started_utc)


def _usage(proc: psutil.Process) -> tuple[int, int, float]:
    """(open fds, threads, RSS MiB)."""
    with proc.oneshot():
        return proc.num_fds(), proc.num_threads(), proc.memory_info().rss / 2**20


def _resources(cluster: LabCluster) -> dict[str, tuple[int, int, float]]:
    """`_usage` of the orchestrator (this process) and of every host's agent."""
    return {"orchestrator": _usage(psutil.Process()),
            **{f"agent {n}": _usage(psutil.Process(h.agent.pid)) for n, h in cluster.hosts.items()}}


class Injector:
    """Injects one fault every `every_s` seconds, in turn, from its own thread."""

    def __init__(self, cluster: LabCluster, every_s: float, seed: int):
        self.cluster, self.every_s, self.rng = cluster, every_s, random.Random(seed)
        self.faults: list[Fault] = []
        self.stop = threading.Event()
        self.ready = threading.Event()  # set while the phones are all back (a fault in flight clears it)
        self.ready.set()
        self._thread = threading.Thread(target=self._loop, name="soak-faults", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        self._thread.join()

    def _loop(self) -> None:
        for kind in itertools.cycle(FAULTS):
            if self.stop.wait(self.every_s):
                return
            self.ready.clear()
            at = utc_now()
            try:
                phones = getattr(self, f"_{kind}")()
                if phones:
                    self.faults.append(Fault(kind, phones, at))
            finally:
                self.ready.set()

    def _pick(self) -> tuple[str, int]:
        name = self.rng.choice(sorted(self.cluster.hosts))
        return name, self.rng.randrange(len(self.cluster.hosts[name].ports))

    def _vanish(self) -> list[str]:
        name, i = self._pick()
        host = self.cluster.hosts[name]
        host.adb_command("disconnect", host.serials[i])
        time.sleep(3)
        host.adb_command("connect", host.serials[i])
        self.wait_served(host.device_ids)
        return [host.device_ids[i]]

    def _agent(self) -> list[str]:
        name, _ = self._pick()
        host = self.cluster.hosts[name]
        stop_tree(host.agent)
        time.sleep(2)
        self.cluster.start_agent(name)
        return list(host.device_ids)

    def _runner(self) -> list[str]:
        """Kill the `am instrument` of a job running on some phone (the first found within 20 s)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for host in self.cluster.hosts.values():
                for proc in psutil.Process(host.phones.pid).children(recursive=True):
                    try:
                        if tool_args(proc.cmdline())[:2] == ["am", "instrument"]:
                            root = Path(proc.cwd())
                            proc.kill()
                            return [host.device_ids[host.roots.index(root)]]
                    except (psutil.NoSuchProcess, ValueError):
                        continue
            time.sleep(0.2)
        return []

    def _telemetry(self) -> list[str]:
        name, i = self._pick()
        self.cluster.hosts[name].update_state(i, cut_telemetry_pulls=1)
        return [self.cluster.hosts[name].device_ids[i]]

    def wait_served(self, device_ids: list[str], wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        while not all(serves(d) for d in device_ids) and time.monotonic() < deadline:
            time.sleep(0.2)


def _bench_until_complete(cluster: LabCluster, store, suite, injector: Injector, deadline: float) -> list[str]:
    """One run, resumed until complete (or until a minute past the deadline): its id, or none when a fault hit
    every attempt's set-up (opening and preparing the phones, before a run is stored)."""
    from harness.bench import resume_bench, run_bench
    from harness.errors import HarnessError
    from harness.lab.device import lab_opener

    opener = lab_opener(cluster.address)
    run_id, status = None, ""
    while status != "complete" and time.monotonic() < deadline + 60:
        injector.ready.wait()
        injector.wait_served([d for h in cluster.hosts.values() for d in h.device_ids])
        try:
            result = (resume_bench(store, run_id, open_device=opener) if run_id else
                      run_bench(suite, store, open_device=opener))
        except HarnessError as exc:  # a fault during set-up: the phones are back soon, try again
            print(f"  {'resume' if run_id else 'bench'} set-up met a fault ({type(exc).__name__}: "
                  f"{str(exc)[:120]}); again", flush=True)
            time.sleep(1)
            continue
        run_id, status = result.run_id, result.status
    return [run_id] if run_id else []


def _samples_lost(cluster: LabCluster) -> tuple[int, int]:
    """(readings lost, cut pulls) over every phone: a file whose last pull came back short lost the difference."""
    lost = cuts = 0
    for host in cluster.hosts.values():
        for root in host.roots:
            log = root / "telemetry_pulls.jsonl"
            last: dict[str, dict] = {}
            for line in log.read_text().splitlines() if log.exists() else []:
                pull = json.loads(line)
                cuts += pull["served"] < pull["readings"]
                last[pull["path"]] = pull
            lost += sum(p["readings"] - p["served"] for p in last.values())
    return lost, cuts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to drive the phones (default 3)")
    parser.add_argument("--fault-every", type=float, default=12.0, metavar="S", help="seconds between faults")
    parser.add_argument("--invoke-ms", type=float, default=25.0, help="device time per invoke (default 25)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    enter_fresh_netns()
    from harness.store import Store
    from harness.suite import parse_suite
    from tests.suites import infer, toy_suite

    with tempfile.TemporaryDirectory(prefix="lab-soak-") as tmp, \
            eight_phone_lab(Path(tmp), {"scripted_invoke_ms": args.invoke_ms}) as (cluster, phones):
        suite = parse_suite(toy_suite("lab-soak", infer(runner="companion", warmup=2, iterations=40),
                                      repetitions=2, devices=phones))
        store = Store(Path(tmp) / "store")
        injector = Injector(cluster, args.fault_every, args.seed)
        deadline = time.monotonic() + args.minutes * 60
        runs = _bench_until_complete(cluster, store, suite, injector, deadline)  # warm-up: imports, staging
        start = _resources(cluster)
        injector.start()
        while time.monotonic() < deadline:
            runs += _bench_until_complete(cluster, store, suite, injector, deadline)
        injector.join()
        runs += _bench_until_complete(cluster, store, suite, injector, deadline)  # every fault has a run after it
        end = _resources(cluster)
        return _report(store, runs, injector.faults, _samples_lost(cluster), start, end, args)


def _report(store, runs, faults, lost_cuts, start, end, args) -> int:
    import pandas as pd

    rows = pd.concat([store.results(r) for r in runs], ignore_index=True)
    ok = rows[rows["status"] == "ok"]
    failed = rows[rows["status"] != "ok"]
    recovered = [f for f in faults if all(((ok["device_id"] == p) & (ok["started_utc"] > f.at_utc)).any()
                                          for p in f.phones)]
    lost, cuts = lost_cuts
    complete = sum(store.manifest(r)["status"] == "complete" for r in runs)
    print(f"lab soak: {args.minutes:g} min, 8 phones on {len(EIGHT_PHONES)} hosts, {len(runs)} runs "
          f"({complete} complete)")
    print(f"jobs done: {len(ok)} ok, {len(failed)} failed ("
          + ", ".join(f"{c} {n}" for c, n in failed["error_code"].value_counts().items()) + ")")
    for kind in FAULTS:
        hit = [f for f in faults if f.kind == kind]
        print(f"faults {kind}: {len(hit)} injected, {sum(f in recovered for f in hit)} recovered")
    print(f"faults: {len(faults)} injected, {len(recovered)} recovered; telemetry pulls cut: {cuts}")
    print(f"samples lost: {lost}")
    grew = []
    for who in start:
        (f0, t0, r0), (f1, t1, r1) = start[who], end[who]
        print(f"{who}: fds {f0} -> {f1}, threads {t0} -> {t1}, RSS {r0:.0f} -> {r1:.0f} MiB")
        if f1 - f0 > 5 or t1 - t0 > 5 or r1 > 1.2 * r0:
            grew.append(who)
    flat = "flat" if not grew else "grew: " + ", ".join(grew)
    print(f"resources: {flat} (agents restarted by an `agent` fault are new processes)")
    return 0 if lost == 0 and len(recovered) == len(faults) and not grew else 1


if __name__ == "__main__":
    sys.exit(main())
