"""Suite `[conditions]`: checked, induced on each device before its jobs, recorded, and always restored."""

from __future__ import annotations

import gc
import os
import subprocess
import warnings

import pytest

from harness.bench import Reporter, run_bench
from harness.devices.android import AndroidDevice
from harness.errors import DeviceError, UserError
from harness.store import Store
from harness.suite import InducedCondition, parse_suite
from tests.test_android_integration import ADB, adb_env, phone  # noqa: F401  (fixtures)

SUITE = """
name = "conditions"
repetitions = 1
devices = ["host"]
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "infer"
signature = "infer"
warmup = 1
iterations = 5
[conditions]
"""
ALL = 'idle = true\nscreen = "off"\nthermal_status = 3\nbattery_level = 50\nunplugged = true\n'


def test_conditions_parse_in_induce_order() -> None:
    suite = parse_suite(SUITE + ALL)
    assert suite.conditions == (
        InducedCondition("unplugged", True), InducedCondition("battery_level", 50),
        InducedCondition("thermal_status", 3), InducedCondition("screen_off", True), InducedCondition("idle", True),
    )
    assert parse_suite(SUITE + 'unplugged = false\nscreen = "on"\n').conditions == ()  # the normal state
    assert parse_suite(SUITE.replace("[conditions]\n", "")).conditions == ()


@pytest.mark.parametrize(("text", "key"), [
    ("airplane = true", "'airplane'"), ("battery_level = 150", "battery_level"), ("battery_level = true", "battery_level"),
    ("thermal_status = 7", "thermal_status"), ('screen = "dim"', "screen"), ('unplugged = "yes"', "unplugged"),
    ("idle = 1", "idle"),
])
def test_bad_condition_names_the_key(text: str, key: str) -> None:
    with pytest.raises(UserError, match=f"conditions: .*{key}"):
        parse_suite(SUITE + text + "\n")


def test_host_cannot_induce_and_nothing_is_stored(tmp_path, toy_artifact) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(UserError, match="host cannot induce conditions"):
        run_bench(parse_suite(SUITE + "unplugged = true\n"), store)
    assert store.runs() == []


class _Watch(Reporter):
    """Records the phone's state when each job starts; optionally interrupts there like Ctrl-C."""

    def __init__(self, sandbox, interrupt: bool = False):
        self.sandbox, self.interrupt, self.states = sandbox, interrupt, []

    def job_started(self, job, expected_events: int) -> None:
        self.states.append(self.sandbox.state())
        if self.interrupt:
            raise KeyboardInterrupt


def _android_suite(serial: str) -> str:
    return SUITE.replace('["host"]', f'["android:{serial}"]') + ALL


def _assert_restored(state: dict) -> None:
    assert not state["battery_unplugged"] and state["battery_level"] is None and state["thermal_override"] is None
    assert not state["idle_forced"] and state["screen_on"]


@pytest.mark.adb
@pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed (apt-get install adb)")
def test_bench_induces_before_jobs_records_and_resets(phone, tmp_path, toy_artifact) -> None:  # noqa: F811
    sandbox, standin = phone
    sandbox.set_power_supply(status="Charging")  # on USB, as a phone on a lab bench is
    store = Store(tmp_path / "store")
    watch = _Watch(sandbox)
    result = run_bench(parse_suite(_android_suite(standin.serial)), store, reporter=watch)
    assert result.status == "complete" and result.rows[0]["status"] == "ok"
    during = watch.states[0]
    assert during["battery_unplugged"] and during["battery_level"] == 50 and during["thermal_override"] == 3
    assert during["idle_forced"] and not during["screen_on"]
    state = sandbox.state()
    _assert_restored(state)
    assert state["log"] == ["battery unplug", "battery set level 50", "thermal override 3", "screen off",
                            "deviceidle force-idle",
                            "deviceidle unforce", "screen on", "thermal reset", "battery reset"]
    manifest = store.manifest("latest")
    assert manifest["conditions"] == {"unplugged": True, "battery_level": 50, "thermal_status": 3,
                                      "screen_off": True, "idle": True}
    # An induced thermal status is what cooldown waits for, not status 0 it can never reach.
    assert result.rows[0]["cooldown_end_status"] == 3 and result.rows[0]["cooldown_reached"]
    # Described before inducing: the description shows the phone as it was (plugged), not as induced.
    assert manifest["devices"][0]["extra"]["plugged_at_describe"] == "true"


@pytest.mark.adb
@pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed (apt-get install adb)")
def test_ctrl_c_still_restores(phone, tmp_path, toy_artifact) -> None:  # noqa: F811
    sandbox, standin = phone
    store = Store(tmp_path / "store")
    watch = _Watch(sandbox, interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        run_bench(parse_suite(_android_suite(standin.serial)), store, reporter=watch)
    assert watch.states[0]["battery_unplugged"]  # induced when the interrupt came
    _assert_restored(sandbox.state())
    manifest = store.runs()[-1]  # `latest` is the latest complete run
    assert manifest["status"] == "interrupted" and manifest["jobs_done"] == 0


@pytest.mark.adb
@pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed (apt-get install adb)")
def test_restore_on_a_gone_phone_is_a_device_error_without_leaking_sockets(phone, adb_env) -> None:  # noqa: F811
    _, standin = phone
    device = AndroidDevice(standin.serial)
    subprocess.run([ADB, "disconnect", standin.serial], env=adb_env, capture_output=True, timeout=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The server answers FAIL ("device not found"); adbutils alone would leak each connection.
        for call in (device.restore, lambda: device.shell.push(b"x", "/data/local/tmp/x")):
            with pytest.raises(DeviceError, match="not found"):
                call()
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
