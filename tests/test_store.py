from __future__ import annotations

import json

import pytest

from harness.errors import ResultFormatError, UserError
from harness.events import Sample
from harness.store import Store


def _events(n: int) -> list[dict]:
    events = [{"event": "started", "job_id": "j0", "protocol": 1, "t_ns": 0, "runner": {"name": "t", "version": "0"}}]
    events += [{"event": "invoke", "job_id": "j0", "index": i, "warmup": False, "start_ns": i * 10,
                "end_ns": i * 10 + 5, "latency_ms": 5e-6} for i in range(n)]
    return events + [{"event": "finished", "job_id": "j0", "t_ns": 99, "measured": n}]


def test_run_lifecycle_and_duckdb(tmp_path):
    store = Store(tmp_path)
    writer = store.create_run({"suite": {"name": "s", "source": ""}, "devices": []}, jobs_planned=2)
    assert store.manifest(writer.run_id)["status"] == "running"
    with pytest.raises(ValueError, match="only after its last job"):
        writer.finish("complete")
    for i in range(2):
        writer.write_job({"job_id": f"j{i}", "order": i, "variant": "v", "p50_ms": 1.0 + i}, _events(3),
                         [Sample(5, "rapl", "package-0", 1.5, "J")])
    writer.finish("complete")
    manifest = store.manifest("latest")
    assert manifest["status"] == "complete" and manifest["jobs_done"] == 2
    assert list(store.results(writer.run_id)["job_id"]) == ["j0", "j1"]
    con = store.connect()
    assert con.execute("select count(*) from events where event = 'invoke'").fetchone()[0] == 6
    assert con.execute("select sum(value) from samples").fetchone()[0] == pytest.approx(3.0)
    assert con.execute("select status from runs").fetchone()[0] == "complete"
    assert con.execute("select max(p50_ms) from results").fetchone()[0] == 2.0


def test_job_files_are_never_rewritten(tmp_path):
    store = Store(tmp_path)
    writer = store.create_run({"suite": {"name": "s"}}, jobs_planned=2)
    writer.write_job({"job_id": "j0", "order": 0}, _events(1), [])
    before = (writer.dir / "jobs/j0/result.parquet").read_bytes()
    with pytest.raises(ResultFormatError, match="never rewritten"):
        writer.write_job({"job_id": "j0", "order": 0, "p50_ms": 9.0}, _events(1), [])
    assert (writer.dir / "jobs/j0/result.parquet").read_bytes() == before
    assert not list(writer.dir.rglob("*.tmp"))


def test_resolve_and_format_checks(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(UserError, match="no run 'nope'"):
        store.manifest("nope")
    run = store.create_run({"suite": {"name": "s"}}, 0).run_id
    assert store.resolve(run[:10]) == run
    path = tmp_path / "runs" / run / "manifest.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(ResultFormatError, match="newer than this harness"):
        store.manifest(run)
