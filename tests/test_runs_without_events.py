"""A run whose jobs stored no events (every job failed, or a benchmark_model-only run) reads everywhere:
dashboards, trace export, show and compare, instead of ending in a KeyError."""

from __future__ import annotations

import json

from harness.cli import main
from harness.store import Store


def _eventless_run(store: Store) -> str:
    writer = store.create_run({"suite": {"name": "s", "path": None, "source": ""}, "devices": []}, jobs_planned=2)
    for i in range(2):
        writer.write_job({"job_id": f"j{i}", "order": i, "variant": "toy-cnn/last-layer", "workload": "infer",
                          "device_id": "host", "status": "failed", "signature": "infer", "repetition": 0,
                          "error_code": "CompanionAppError", "error_message": "runner exited"}, [], [])
    writer.finish("complete")
    return writer.run_id


def test_every_reader_copes_with_a_run_without_events(tmp_path, capsys):
    store = Store(tmp_path / "results")
    base, new = _eventless_run(store), _eventless_run(store)
    assert store.events(new).columns.tolist()[:3] == ["run_id", "job_id", "seq"] and store.events(new).empty
    results = ["--results", str(store.root)]
    assert main(["dashboards", "-o", str(tmp_path / "dash"), *results]) == 0
    assert main(["dashboard", new, "-o", str(tmp_path / "one.html"), *results]) == 0
    assert main(["export-trace", new, "-o", str(tmp_path / "trace.json"), *results]) == 0
    assert json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    assert main(["compare", base, new, *results]) == 0
    assert main(["show", new, *results]) == 0
    capsys.readouterr()
