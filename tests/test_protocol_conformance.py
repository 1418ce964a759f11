"""Every conformance vector against the host reference runner, through the host device's worker."""

from __future__ import annotations

import pytest

from harness.devices.host import HostDevice
from harness.protocol import ProtocolError, check_stream, job_from_vector, load_vectors, validate_event, validate_job

VECTORS = load_vectors()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_host_runner_conforms(vector, toy_artifact):
    assert vector["artifact"]["variant"] == toy_artifact.name
    job = job_from_vector(vector, str(toy_artifact.path), toy_artifact.sha256)
    streamed = []
    assert HostDevice().run(job, streamed.append) == []  # a streaming caller keeps the events itself
    assert check_stream(streamed, vector["expect"]) == []


def test_check_stream_catches_a_broken_stream():
    events = [
        {"event": "started", "job_id": "x", "protocol": 1, "t_ns": 1, "runner": {"name": "r", "version": "0"}},
        {"event": "invoke", "job_id": "x", "index": 0, "warmup": False, "start_ns": 5, "end_ns": 3, "latency_ms": 0.1},
        {"event": "finished", "job_id": "x", "t_ns": 9, "measured": 2},
    ]
    problems = check_stream(events, {"final": "finished", "kind": "invoke", "measured": 2})
    assert any("end before start" in p for p in problems)
    assert any("1 measured invoke events, expected 2" in p for p in problems)
    assert any("finished.measured=2" in p for p in problems)
    assert check_stream(events[:2], {"final": "finished"})  # no terminal event


def test_schema_names_the_bad_field():
    job = {"protocol": 1, "job_id": "a b", "artifact": {"path": "m", "sha256": "0" * 64}, "signature": "infer",
           "input": {"kind": "synthetic", "seed": 0}, "warmup": 0, "iterations": 1, "threads": 1, "delegate": "cpu"}
    with pytest.raises(ProtocolError, match="job_id"):
        validate_job(job)
    with pytest.raises(ProtocolError):
        validate_event({"event": "invoke", "job_id": "x", "index": -1})
