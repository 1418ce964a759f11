"""Cooldown against a scripted device and a deterministic clock."""

from __future__ import annotations

import pytest

from harness.bench import run_bench
from harness.cooldown import cool_down, read
from harness.devices.base import Device
from harness.events import Sample
from harness.store import Store
from harness.suite import parse_suite
from tests.suites import infer, toy_suite


class ScriptedDevice(Device):
    """Each snapshot() returns the next scripted (status, battery temp) reading."""

    id = "scripted"

    def __init__(self, readings, battery=True):
        self.readings, self.battery, self.calls = list(readings), battery, 0

    def snapshot(self):
        status, temp = self.readings[min(self.calls, len(self.readings) - 1)]
        self.calls += 1
        out = [] if status is None else [Sample(self.calls, "thermal", "status", status, "level")]
        if temp is not None:
            out.append(Sample(self.calls, "battery", "temp", temp, "C") if self.battery
                       else Sample(self.calls, "thermal", "cpu", temp, "C"))
        return out

    describe = stage = run = sampler = None  # not used by cooldown


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_waits_until_status_nominal_and_temperature_back():
    device = ScriptedDevice([(2, 38.0), (1, 36.0), (0, 35.4), (0, 34.9)])
    clock = Clock()
    rec = cool_down(device, 34.5, margin_c=0.5, poll_s=5, clock=clock, sleep=clock.sleep)
    assert rec.reached and rec.polls == 4
    assert rec.waited_s == pytest.approx(15.0)
    assert (rec.end_status, rec.end_temp_c, rec.temp_source) == (0, 34.9, "battery/temp")


def test_times_out_with_reason():
    device = ScriptedDevice([(3, 41.0)])
    clock = Clock()
    rec = cool_down(device, 35.0, timeout_s=12, poll_s=5, clock=clock, sleep=clock.sleep)
    assert not rec.reached
    assert rec.waited_s == pytest.approx(12.0)
    assert "thermal status 3 > 0" in rec.reason and "41.0 C" in rec.reason


def test_no_wait_when_already_cool():
    clock = Clock()
    rec = cool_down(ScriptedDevice([(0, 30.0)]), 30.0, clock=clock, sleep=clock.sleep)
    assert rec.reached and rec.waited_s == 0 and rec.polls == 1


def test_host_uses_hottest_zone_and_says_when_nothing_to_read():
    assert read([Sample(1, "thermal", "a", 40.0, "C"), Sample(1, "thermal", "b", 55.0, "C")]).temp_source == "thermal/b"
    clock = Clock()
    rec = cool_down(ScriptedDevice([(None, None)]), None, clock=clock, sleep=clock.sleep)
    assert not rec.reached and "no thermal status" in rec.reason
    assert rec.to_columns()["cooldown_reached"] is False


def test_the_latest_readings_stand_in_for_the_first_poll():
    """A device the previous job's last reading shows cool starts at once; a hot one is polled afresh."""
    clock = Clock()
    cool = ScriptedDevice([(3, 45.0)])  # a snapshot now would read hot: the latest readings must decide
    rec = cool_down(cool, 30.0, clock=clock, sleep=clock.sleep, latest=[Sample(9, "battery", "temp", 30.2, "C")])
    assert rec.reached and rec.polls == 0 and cool.calls == 0 and rec.end_temp_c == 30.2
    hot = ScriptedDevice([(0, 31.0)])
    latest = [Sample(9, "thermal", "status", 2, "level"), Sample(9, "battery", "temp", 38.0, "C")]
    rec = cool_down(hot, 30.5, poll_s=5, clock=clock, sleep=clock.sleep, latest=latest)
    assert rec.reached and rec.polls == 1 and hot.calls == 1 and rec.waited_s == pytest.approx(5.0)
    unread = ScriptedDevice([(0, 30.0)])  # readings with neither channel (a failed job's): a snapshot decides
    rec = cool_down(unread, 30.0, clock=clock, sleep=clock.sleep, latest=[Sample(9, "cpu", "clock", 1.0, "%")])
    assert rec.reached and rec.polls == 1


def test_a_bench_cools_each_device_by_its_own_latest_reading(tmp_path):
    """Two twins take turns in one lane (they share this computer): each job's cool-down reads its own twin's
    newest readings (the reference reading, then its previous job's last), so a cool twin takes no snapshot."""
    suite = parse_suite(toy_suite("cooldown", infer("cd", warmup=1, iterations=5), repetitions=2,
                                  devices=["sim:android-flagship", "sim:iphone-13"]))
    rows = run_bench(suite, Store(tmp_path)).rows
    assert len(rows) == 4
    for row in rows:
        assert row["cooldown_temp_source"].startswith(f"model:{row['device_id'].removeprefix('sim:')}/"), row
        assert row["cooldown_reached"] and row["cooldown_polls"] == 0
