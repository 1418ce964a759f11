"""Workloads beyond synthetic input: one person's real data, and inference beside background training."""

from __future__ import annotations

import pytest

from harness.analysis.kpis import run_kpis
from harness.bench import run_bench
from harness.errors import UserError
from harness.store import Store
from harness.suite import parse_suite

SUITE = """
name = "workloads"
repetitions = 1
[[models]]
name = "toy-cnn-wide"
variants = ["last-layer"]
[[workloads]]
name = "personalize-s23"
signature = "train"
warmup = 0
steps = 12
batch_size = 16
data = "har:23"
[[workloads]]
name = "background-train"
signature = "train"
warmup = 0
steps = 60
batch_size = 16
[[workloads]]
name = "infer-while-training"
signature = "infer"
warmup = 0
iterations = 100
background = "background-train"
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    result = run_bench(parse_suite(SUITE), store)
    return store, result


def test_personalizing_on_a_held_out_subject_reports_accuracy(run):
    _, result = run
    row = next(r for r in result.rows if r["workload"] == "personalize-s23")
    assert row["status"] == "ok" and row["data"] == "har:23"
    assert row["eval_examples"] > 100  # subject 23's cross-placement windows (trial 2)
    assert 0 <= row["accuracy_before"] <= 1 and 0 <= row["accuracy_after"] <= 1
    assert row["accuracy_gain"] == pytest.approx(row["accuracy_after"] - row["accuracy_before"])


def test_inference_beside_background_training(run):
    store, result = run
    row = next(r for r in result.rows if r["workload"] == "infer-while-training")
    assert row["status"] == "ok" and row["n"] == 100
    assert row["background_workload"] == "background-train" and row["background_status"] == "ok"
    assert row["background_steps"] == 60
    assert row["background_overlap"] > 0.5  # ~50 ms steps: the training outlasts 100 invokes of ~3 ms
    events = store.events(result.run_id, row["job_id"])
    assert set(events["stream"]) == {row["job_id"], f"{row['job_id']}-bg"}
    kpis = run_kpis(store.results(result.run_id), store.events(result.run_id), store.samples(result.run_id))
    assert kpis.foreground_p50_ms is not None  # invokes really overlapped training steps


@pytest.mark.parametrize("edit, message", [
    (('data = "har:23"', 'data = "har:3"'), "subject 3 is not held out"),
    (('data = "har:23"', 'data = "har:23:sideways"'), "condition must be one of"),
    (('data = "har:23"', 'data = "mnist:1"'), "data must look like"),
    (('background = "background-train"', 'background = "personalize"'), "not a train workload of this suite"),
    (('iterations = 100\n', 'iterations = 100\ndata = "har:23"\n'), "data belongs to a train workload"),
])
def test_bad_workload_keys(edit, message):
    with pytest.raises(UserError, match=message):
        parse_suite(SUITE.replace(*edit))
