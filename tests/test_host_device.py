"""The host backend: describe, staging checks, crash isolation, sampler."""

from __future__ import annotations

import sys

import pytest

from harness.devices.base import Artifact
from harness.devices.host import HostDevice, HostSampler, _rapl_domains, _stream_worker
from harness.errors import CompanionAppError, DeviceError, DeviceTimeout


def test_describe_reports_energy_sources_or_why_not(tmp_path):
    description = HostDevice().describe()
    assert description.kind == "host" and description.cores >= 1 and description.soc
    (rapl,) = description.energy_sources
    assert rapl.available or rapl.reason
    domains, reason = _rapl_domains(tmp_path / "powercap")
    assert domains == [] and "no " in reason


def test_rapl_counters_sampled_in_joules(tmp_path):
    domain = tmp_path / "intel-rapl:0"
    domain.mkdir()
    (domain / "energy_uj").write_text("2500000\n")
    (domain / "name").write_text("package-0\n")
    domains, reason = _rapl_domains(tmp_path)
    assert domains == [domain] and reason == ""
    sampler = HostSampler(domains, [], period_s=0.01)
    sampler.start()
    (domain / "energy_uj").write_text("3500000\n")
    samples = sampler.stop()
    assert {s.channel for s in samples} == {"package-0"}
    assert samples[0].value == pytest.approx(2.5) and samples[-1].value == pytest.approx(3.5)
    assert all(s.unit == "J" and s.source == "rapl" for s in samples)


def test_stage_refuses_a_changed_artifact(tmp_path, toy_artifact):
    device = HostDevice()
    good = Artifact("toy", toy_artifact.path, toy_artifact.sha256)
    assert device.stage([good]) == {toy_artifact.sha256: str(toy_artifact.path.resolve())}
    assert device.stage([good]) == device.stage([good])  # idempotent
    with pytest.raises(DeviceError, match="changed since it was built"):
        device.stage([Artifact("toy", toy_artifact.path, "0" * 64)])


def test_a_crashing_runner_fails_the_job_not_the_orchestrator():
    with pytest.raises(CompanionAppError, match="before finishing the job"):
        _stream_worker([sys.executable, "-c", "import os; print('{\"event\": \"started\"}', flush=True); os.abort()"],
                       None, 60)
    with pytest.raises(CompanionAppError, match="not JSON"):
        _stream_worker([sys.executable, "-c", "print('Segmentation fault')"], None, 60)


def test_a_hanging_runner_times_out():
    with pytest.raises(DeviceTimeout):
        _stream_worker([sys.executable, "-c", "import time; time.sleep(30)"], None, 0.5)


def test_corrupt_model_is_a_model_load_error(tmp_path):
    import hashlib

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer" * 64)
    job = {"protocol": 1, "job_id": "bad", "artifact": {"path": str(bad), "sha256": hashlib.sha256(bad.read_bytes()).hexdigest()},
           "signature": "infer", "input": {"kind": "synthetic", "seed": 0}, "warmup": 0, "iterations": 1,
           "threads": 1, "delegate": "xnnpack"}
    events = HostDevice().run(job)
    assert events[-1]["event"] == "error" and events[-1]["code"] == "model_load"
