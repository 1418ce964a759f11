"""Runner events are checked against the protocol as they arrive: a malformed event fails its job with
the event's position and fault (never a KeyError later), and the rest of the run goes on."""

from __future__ import annotations

from typing import Any

import pytest

from harness.bench import run_bench
from harness.protocol import ProtocolError, StreamCheck
from harness.store import Store
from harness.suite import parse_suite
from tests.backends.loopback import LoopbackDevice
from tests.suites import infer, toy_suite

SUITE = toy_suite("checks", infer(delegate="cpu", warmup=0, iterations=3), repetitions=2,
                  devices=["loop:scripted"])


def _stream(job_id: str, invoke: dict[str, Any]) -> list[dict[str, Any]]:
    started = {"event": "started", "job_id": job_id, "protocol": 1, "t_ns": 1, "runner": {"name": "s", "version": "0"}}
    return [started, {"event": "invoke", "job_id": job_id, "index": 0, "warmup": False, "start_ns": 2, "end_ns": 3,
                      **invoke}, {"event": "finished", "job_id": job_id, "t_ns": 4, "measured": 1}]


class Scripted(LoopbackDevice):
    """Plays a scripted stream for the first job (an invoke with no latency_ms), the real runner after."""

    def run(self, job, on_event=None, **kwargs):
        if job["job_id"] != "j0000":
            return super().run(job, on_event, **kwargs)
        events = _stream(job["job_id"], {})
        for event in events:
            on_event(event)
        return events


def test_a_malformed_event_fails_its_job_with_the_cause(tmp_path, toy_artifact):
    store = Store(tmp_path)
    result = run_bench(parse_suite(SUITE), store, open_device=lambda device_id: Scripted("scripted"))
    first, second = result.rows
    assert first["status"] == "failed" and first["error_code"] == "CompanionAppError"
    assert "event 1 (invoke)" in first["error_message"] and "latency_ms" in first["error_message"]
    assert second["status"] == "ok" and result.status == "complete"
    assert list(store.results(result.run_id)["status"]) == ["failed", "ok"]


@pytest.mark.parametrize(("events", "words"), [
    (lambda: _stream("j1", {"latency_ms": 1.0})[1:], "event 0 .*out of order"),
    (lambda: _stream("j1", {"latency_ms": 1.0}) + [_stream("j1", {})[2]], "event 3 .*out of order"),
    (lambda: _stream("j2", {"latency_ms": 1.0}), "job_id 'j2', expected 'j1'"),
    (lambda: _stream("j1", {"latency_ms": -1.0}), "event 1 \\(invoke\\): latency_ms: -1.0 is less than"),
    (lambda: [*_stream("j1", {"latency_ms": 1.0})[:1], ["not", "an", "event"]], "event 1 \\(list\\)"),
])
def test_stream_check_names_the_event_and_its_fault(events, words):
    check = StreamCheck("j1")
    with pytest.raises(ProtocolError, match=words):
        for event in events():
            check(event)


def test_the_fast_event_check_never_passes_what_the_schema_refuses():
    from harness.protocol import _event_validators, _fast_checks

    good = {"invoke": _stream("j1", {"latency_ms": 1.0})[1],
            "train_step": {"event": "train_step", "job_id": "j1", "step": 0, "warmup": True, "start_ns": 1,
                           "end_ns": 2, "latency_ms": 0.5, "loss": 1.5},
            "thermal": {"event": "thermal", "job_id": "j1", "t_ns": 5, "state": "NONE"}}
    assert set(_fast_checks()) == set(good)
    for kind, event in good.items():
        fast, schema = _fast_checks()[kind], _event_validators()[kind]
        variants = [event, {**event, "extra": 1}]
        variants += [{k: v for k, v in event.items() if k != drop} for drop in event]
        for key in event:
            variants += [{**event, key: bad} for bad in (None, "1", 1.5, -1, True, [])]
        for variant in variants:
            if fast(variant):
                assert schema.is_valid(variant), variant
        assert fast(event)
