"""The third task (tests.tasks.binary_toy, added by one registry line) runs through `harness bench` on the
host: its data spec is checked by the suite and staged, its input spec reaches the runner as ranges."""

from __future__ import annotations

import json

import pytest

from harness.bench import run_bench
from harness.cli import main
from harness.errors import UserError
from harness.store import Store
from harness.suite import parse_suite
from models import tasks
from tests.suites import infer, toy_suite, train

SUITE = toy_suite("binary", infer(warmup=1, iterations=10), train(steps=4, batch_size=8, data="binary:2"),
                  model="binary-toy")


@pytest.fixture
def binary(monkeypatch):
    from tests.tasks import binary_toy

    monkeypatch.setitem(tasks.TASKS, "binary", binary_toy.TASK)
    return binary_toy


def test_a_new_task_runs_on_the_host(binary, tmp_path, capsys):
    store = Store(tmp_path)
    result = run_bench(parse_suite(SUITE), store)
    infer, train = result.rows
    assert infer["status"] == train["status"] == "ok" and result.status == "complete"
    assert train["data"] == "binary:2" and 0 <= train["accuracy_before"] <= 1 and train["eval_examples"] == 32
    manifest = store.manifest(result.run_id)
    inputs = manifest["artifacts"]["binary-toy/last-layer"]["inputs"]
    assert [(i["name"], i["low"], i["high"]) for i in inputs] == [("x", -1.0, 1.0), ("y", 0, 2)]
    assert main(["show", result.run_id, "--json", "--results", str(tmp_path)]) == 0
    assert len(json.loads(capsys.readouterr().out)["jobs"]) == 2


def test_the_job_carries_the_task_input_ranges(binary, tmp_path, monkeypatch):
    from harness.devices.host import HostDevice

    seen = []
    original = HostDevice.run
    monkeypatch.setattr(HostDevice, "run", lambda self, job, on_event=None, **kw: seen.append(job)
                        or original(self, job, on_event, **kw))
    run_bench(parse_suite(SUITE.replace('data = "binary:2"\n', "")), Store(tmp_path))
    assert [j["input"]["ranges"] for j in seen] == [{"x": [-1.0, 1.0], "y": [0, 2]}] * 2


def test_a_bad_data_spec_of_the_task_is_a_suite_error(binary):
    with pytest.raises(UserError, match="workloads\\[1\\]: data must look like 'binary:<person>'"):
        parse_suite(SUITE.replace("binary:2", "binary:9"))
