"""Devices that do not share compute run at once (two stand-in phones on the real adb server); the host and
every backend that runs its jobs on this computer take turns, so none skews another's latency."""

from __future__ import annotations

import subprocess

import pytest

from harness.bench import _lanes, run_bench
from harness.devices.host import HostDevice
from harness.plan import make_plan
from harness.store import Store
from harness.suite import parse_suite
from tests.adbd_standin import AdbdStandin, DeviceSandbox
from tests.backends.loopback import LoopbackDevice
from tests.suites import infer, toy_suite
from tests.test_android_integration import ADB, _connect, adb_env  # noqa: F401 (fixture)


def _suite(devices: list[str]) -> str:
    return toy_suite("two-phones-at-once", infer(runner="companion", warmup=2, iterations=20, min_duration_s=1.5),
                     repetitions=2, devices=devices)


def test_host_backed_devices_share_one_lane_and_phones_get_their_own() -> None:
    suite = parse_suite(_suite(["host", "loop:a", "android:x", "android:y"]))
    plan = make_plan(suite)

    class Phone:
        def __init__(self, device_id: str):
            self.id = self.compute = device_id

    devices = {"host": HostDevice(), "loop:a": LoopbackDevice("a"), "android:x": Phone("android:x"),
               "android:y": Phone("android:y")}
    lanes = _lanes(plan, devices)
    assert [sorted({j.device for j in lane}) for lane in lanes] == [["host", "loop:a"], ["android:x"], ["android:y"]]
    assert all([j.order for j in lane] == sorted(j.order for j in lane) for lane in lanes)  # plan order kept


@pytest.mark.adb
def test_two_phones_run_at_once(adb_env, tmp_path) -> None:  # noqa: F811 (the imported fixture)
    phones = []
    try:
        for name in ("a", "b"):
            standin = AdbdStandin(DeviceSandbox(tmp_path / name))
            _connect(adb_env, standin.serial)
            phones.append(standin)
        ids = [f"android:{p.serial}" for p in phones]
        suite = parse_suite(_suite(ids))
        store = Store(tmp_path / "store")
        result = run_bench(suite, store)
        assert result.status == "complete"
        assert [r["order"] for r in result.rows] == sorted(r["order"] for r in result.rows)
        rows = store.results(result.run_id)
        assert set(rows["status"]) == {"ok"} and len(rows) == 4
        # both stand-ins stamp events with this machine's CLOCK_BOOTTIME: the phones' measured spans overlap
        spans = {d: [(r.first_start_ns, r.last_end_ns) for r in g.itertuples()] for d, g in rows.groupby("device_id")}
        assert any(a0 < b1 and b0 < a1 for a0, a1 in spans[ids[0]] for b0, b1 in spans[ids[1]]), spans
        # each phone kept its own order of jobs
        for device, group in rows.groupby("device_id"):
            starts = group.sort_values("order")["first_start_ns"].tolist()
            assert starts == sorted(starts), device
    finally:
        for standin in phones:
            standin.stop()
            subprocess.run([ADB, "disconnect", standin.serial], env=adb_env, capture_output=True, timeout=30)
