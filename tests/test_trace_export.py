"""Chrome/Perfetto JSON trace of a synthetic run."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.store import Store
from harness.trace_export import build_trace
from tests.synthetic_runs import write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("results"))
    return store, write_run(store, seed=5, repetitions=1, n=20)


def test_jobs_are_slices_and_telemetry_counters(run):
    store, run_id = run
    trace = build_trace(store, run_id)
    events = trace["traceEvents"]
    jobs = [e for e in events if e["ph"] == "X" and e.get("cat") == "job"]
    assert len(jobs) == len(store.results(run_id))
    steps = [e for e in events if e["ph"] == "X" and e.get("cat") in ("measured", "warmup")]
    assert len(steps) == len(jobs) * 23
    for job in jobs:  # every invoke/step lies inside a job slice of the same process
        assert job["dur"] > 0 and job["ts"] >= 0
    for s in steps:
        assert any(j["ts"] <= s["ts"] and s["ts"] + s["dur"] <= j["ts"] + j["dur"] + 1e-6 for j in jobs)
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert counters == {"model:pixel7/power (W)", "battery/temp (C)", "thermal/status (level)"}
    names = {(e["name"], e["args"]["name"]) for e in events if e["ph"] == "M"}
    assert ("process_name", "sim:pixel7") in names
    assert min(e["ts"] for e in events if "ts" in e) == 0


def test_cli_writes_json(run, tmp_path, capsys):
    store, run_id = run
    out = tmp_path / "trace.json"
    assert main(["export-trace", run_id, "-o", str(out), "--results", str(store.root)]) == 0
    data = json.loads(out.read_text())
    assert data["displayTimeUnit"] == "ms" and data["traceEvents"]
    assert main(["export-trace", "missing", "-o", str(out), "--results", str(store.root)]) == 2
