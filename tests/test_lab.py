"""The device lab on a real loopback Ray cluster: two lab hosts (each its own Ray node, real adb server,
stand-in phones speaking the adbd wire protocol, `harness lab agent`), the orchestrator a Ray driver.

Multi-node Ray on loopback needs a fresh network namespace (only `lo`), so the first test re-runs this module
inside `unshare -n`, where the others run on one cluster: parallel phones on two hosts, two processes asking
for one phone, and a lost host whose jobs alone fail and whose run `--resume` finishes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.bench import Reporter, resume_bench, run_bench
from harness.events import TIMED
from harness.store import Store
from harness.suite import parse_suite
from tests.lab_cluster import ADB, LabCluster, in_fresh_netns, lo_up, netns_command
from tests.suites import infer, toy_suite

REPO = Path(__file__).resolve().parents[1]
IN_NETNS = in_fresh_netns()
pytestmark = [
    pytest.mark.lab,
    pytest.mark.adb,
    pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed (apt-get install adb)"),
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the lab extra (ray) is not installed"),
]
inside = pytest.mark.skipif(not IN_NETNS, reason="run inside a fresh network namespace by the first test")


def test_lab_runs_in_a_fresh_network_namespace(_isolated_cache) -> None:
    if IN_NETNS:
        pytest.skip("inside the namespace: the tests below run here")
    command = netns_command([sys.executable, "-m", "pytest", __file__, "-q", "-x", "-p", "no:cacheprovider"])
    if command is None:
        pytest.skip("`unshare -n` is not allowed here (Linux, root or user namespaces)")
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "HARNESS_TEST_CACHE_DIR": str(_isolated_cache)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout, proc.stdout[-3000:]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lo_up()
    cluster = LabCluster(tmp_path_factory.mktemp("lab"))
    try:
        cluster.add_host("h1", 2)
        cluster.add_host("h2", 1)
        yield cluster
    finally:
        cluster.stop()


class _Events(Reporter):
    def __init__(self) -> None:
        self.timed: dict[str, int] = {}

    def event(self, job, event) -> None:
        if event["event"] in TIMED:
            self.timed[job.job_id] = self.timed.get(job.job_id, 0) + 1


@inside
def test_phones_on_two_hosts_run_at_once(lab, tmp_path) -> None:
    from harness.lab.device import lab_opener

    ids = [*lab.hosts["h1"].device_ids, *lab.hosts["h2"].device_ids]
    suite = parse_suite(toy_suite("lab-parallel", infer(runner="companion", warmup=2, iterations=60),
                                  repetitions=2, devices=ids))
    store, reporter = Store(tmp_path / "store"), _Events()
    for host in lab.hosts.values():  # 3 s of each job is the phone's, whatever the load on this machine
        host.update_state(scripted_invoke_ms=50)
    try:
        result = run_bench(suite, store, reporter=reporter, open_device=lab_opener(lab.address))
    finally:
        for host in lab.hosts.values():
            host.update_state(scripted_invoke_ms=None)
    rows = store.results(result.run_id)
    assert result.status == "complete", rows[["job_id", "status", "error_message"]].to_string()
    assert len(rows) == 6 and set(rows["status"]) == {"ok"}
    spans = {d: [(r.first_start_ns, r.last_end_ns) for r in g.itertuples()] for d, g in rows.groupby("device_id")}
    h1, h2 = lab.hosts["h1"].device_ids[0], lab.hosts["h2"].device_ids[0]
    assert any(a0 < b1 and b0 < a1 for a0, a1 in spans[h1] for b0, b1 in spans[h2]), spans  # two hosts at once
    for device, group in rows.groupby("device_id"):
        starts = group.sort_values("order")["first_start_ns"].tolist()
        assert starts == sorted(starts), device  # each phone kept the suite's order
    for row in rows.itertuples():
        events = store.events(result.run_id, row.job_id)
        assert reporter.timed[row.job_id] == int(events["event"].isin(TIMED).sum()) == 62  # one item per invoke
        assert len(store.samples(result.run_id, row.job_id)) > 0  # the phone's telemetry came back


@inside
def test_a_second_process_asking_for_a_held_phone_is_refused_naming_the_holder(lab, tmp_path) -> None:
    import ray

    phone = lab.hosts["h1"].device_ids[1]
    suite = tmp_path / "hold.toml"
    suite.write_text(toy_suite("hold", infer(runner="companion", warmup=2, iterations=20, min_duration_s=8.0),
                               devices=[phone]))
    bench = [sys.executable, "-m", "harness.cli", "bench", "--lab", lab.address, "--suite", str(suite), "--results"]
    first = subprocess.Popen([*bench, str(tmp_path / "a")], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        actor = ray.get_actor(phone, "harness-lab")
        deadline = time.monotonic() + 120
        while ray.get(actor.holder.remote()) is None:
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.2)
        # another host (its own lock directory): only the phone's lab lease stands between them
        second = subprocess.run([*bench, str(tmp_path / "b")], cwd=REPO, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "HARNESS_LOCK_DIR": str(tmp_path / "other-host-locks")})
        # (Ray's core logs, `[date ...] network_util.cc`, complain here of a namespace without a route out)
        lines = [line for line in second.stderr.splitlines() if line.strip() and not line.startswith("[")]
        assert second.returncode == 1 and len(lines) == 1, repr(second.stderr)
        assert f"{phone} is in use by" in lines[0] and f"pid {first.pid}" in lines[0] and "lab host h1" in lines[0]
        out, err = first.communicate(timeout=180)
        assert first.returncode == 0, out + err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert ray.get(actor.holder.remote()) is None  # released when the bench closed the phone


class _KillHostAt(Reporter):
    """Kills lab host `name` (node, agent, adb server, phones) at its phone's first job's fourth invoke."""

    def __init__(self, lab: LabCluster, name: str):
        self.lab, self.name, self.device = lab, name, lab.hosts[name].device_ids[0]
        self.lost: list[tuple[str, str, int]] = []
        self.killing = threading.Thread(target=lab.kill_host, args=(name,))

    def event(self, job, event) -> None:
        if job.device == self.device and event.get("index") == 3 and not self.killing.is_alive() and not self.lost:
            self.lost.append(("killing", "", 0))
            self.killing.start()

    def device_lost(self, device_id, cause, jobs_left, run_id) -> None:
        self.lost.append((device_id, cause, jobs_left))


@inside
def test_a_lost_host_fails_only_its_jobs_and_resume_finishes_the_run(lab, tmp_path) -> None:
    from harness.lab.device import lab_opener

    gone, stays = lab.hosts["h2"].device_ids[0], lab.hosts["h1"].device_ids[0]
    suite = parse_suite(toy_suite("lab-lost-host", infer(runner="companion", warmup=2, iterations=40,
                                                        min_duration_s=2.0), repetitions=2, devices=[stays, gone]))
    store, reporter = Store(tmp_path / "store"), _KillHostAt(lab, "h2")
    result = run_bench(suite, store, reporter=reporter, open_device=lab_opener(lab.address))
    rows = store.results(result.run_id)
    assert result.status == "incomplete", rows[["job_id", "status", "error_message"]].to_string()
    by_device = {d: g for d, g in rows.groupby("device_id")}
    assert list(by_device[stays]["status"]) == ["ok", "ok"], by_device[stays]["error_message"].tolist()  # carried on
    lost = by_device[gone].iloc[0]
    assert (lost["status"], lost["error_code"]) == ("failed", "DeviceLost") and len(by_device[gone]) == 1
    assert "lab actor is gone" in lost["error_message"], lost["error_message"]
    assert len(store.events(result.run_id, lost["job_id"])) >= 4  # what it streamed before the host went
    assert reporter.lost[-1][0] == gone and reporter.lost[-1][2] == 2

    reporter.killing.join()
    lab.add_host("h2")  # the host comes back (its phones on their old ports); --resume finishes the run
    resumed = resume_bench(store, result.run_id, open_device=lab_opener(lab.address))
    assert resumed.status == "complete"
    rows = store.results(result.run_id)
    assert len(rows) == 4 and set(rows["status"]) == {"ok"}


def test_a_lab_nobody_runs_is_one_line(tmp_path) -> None:
    from tests.lab_cluster import free_port

    for address, says in ((f"127.0.0.1:{free_port()}", "no Ray cluster at"), ("lab-head", "bad lab address")):
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--lab", address, "--device", "android:x",
                               "--results", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
