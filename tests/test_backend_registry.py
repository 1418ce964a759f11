"""A backend joins with one module and one registry line; suites are checked against what it declares."""

from __future__ import annotations

import pytest

from harness import devices
from harness.bench import run_bench
from harness.errors import UserError
from harness.store import Store
from harness.suite import parse_suite
from tests.backends.loopback import REGISTRY_LINE, LoopbackDevice
from tests.suites import infer, toy_suite

SUITE = toy_suite("loop", infer(delegate="cpu", warmup=1, iterations=5), devices=["loop:a"])


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(devices.BACKENDS, *REGISTRY_LINE)


def test_the_registry_opens_by_scheme(registered):
    assert isinstance(devices.open_device("loop:a"), LoopbackDevice)
    assert devices.backend("loop:b") is LoopbackDevice
    assert [device.id for device, _ in devices.survey()[0]][:1] == ["host"]
    with pytest.raises(UserError, match="unknown device 'nope:1'.*loop:<id>"):
        devices.open_device("nope:1")
    with pytest.raises(UserError, match="expected loop:<name>"):
        devices.open_device("loop")


def test_a_registered_backend_runs_a_suite_and_its_conditions(registered, tmp_path, toy_artifact):
    store = Store(tmp_path)
    opened: list[LoopbackDevice] = []

    def opener(device_id: str) -> LoopbackDevice:
        opened.append(devices.open_device(device_id))
        return opened[-1]

    result = run_bench(parse_suite(SUITE + "[conditions]\nbattery_level = 40\n"), store, open_device=opener)
    assert result.status == "complete" and [r["status"] for r in result.rows] == ["ok"]
    assert opened[0].induced == [("battery_level", 40)] and opened[0].restored == 1
    manifest = store.manifest(result.run_id)
    assert manifest["conditions"] == {"battery_level": 40}
    device = manifest["devices"][0]
    assert device["id"] == "loop:a" and device["capabilities"]["runners"]["companion"]["delegates"] == ["cpu"]


@pytest.mark.parametrize(("change", "words"), [
    (('delegate = "cpu"', 'delegate = "xnnpack"'), "loop:a's runner 'companion' runs infer/train with delegates cpu"),
    (("iterations = 5", "iterations = 5\n[conditions]\nthermal_status = 2"), "loop:a cannot induce conditions"),
    (("iterations = 5", 'iterations = 5\nrunner = "benchmark_model"\n'), "cannot run LiteRT's benchmark_model"),
    (("iterations = 5", 'iterations = 5\nbackground = "train"\n[[workloads]]\nname = "train"\nsignature = "train"\n'
                        'delegate = "cpu"\nsteps = 2\nbatch_size = 16'), "cannot run a background job"),
])
def test_what_a_backend_does_not_declare_is_refused_before_anything_is_stored(registered, tmp_path, change, words):
    text = SUITE.replace(*change)
    if "benchmark_model" in text:
        (tmp_path / "bm").write_text("")
        text = f'benchmark_model = "{tmp_path / "bm"}"\n' + text
    store = Store(tmp_path / "store")
    with pytest.raises(UserError, match=words):
        run_bench(parse_suite(text), store)
    assert store.runs() == []


@pytest.mark.parametrize(("suite", "words"), [
    (SUITE + '[[workloads]]\nname = "train"\nsignature = "train"\ndelegate = "cpu"\nsteps = 2\nbatch_size = 7\n',
     "batch_size 7, but the train signature of 'toy-cnn/last-layer' takes batches of 16"),
])
def test_a_workload_that_does_not_fit_its_artifact_is_refused_before_a_run(registered, tmp_path, suite, words,
                                                                            toy_artifact):
    store = Store(tmp_path)
    with pytest.raises(UserError, match=words):
        run_bench(parse_suite(suite), store)
    assert store.runs() == []
