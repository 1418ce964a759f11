"""The contract every device backend passes (DESIGN: "The device contract").

Backends join by adding a fixture name to BACKENDS that yields an open `Device`; every backend in the
registry (`harness.devices.BACKENDS`) must declare a scheme and capabilities from the vocabulary.
"""

from __future__ import annotations

import pytest

from harness import devices
from harness.devices.base import Artifact, Device, DeviceDescription
from harness.devices.capabilities import CONDITIONS, DELEGATES, FORMATS, RUNNERS
from harness.devices.host import HostDevice
from harness.devices.sim import SimDevice
from harness.events import Sample
from harness.protocol import check_stream, job_from_vector, load_vectors
from tests.backends.loopback import LoopbackDevice

UNITS = {"A", "V", "Ah", "J", "C", "%", "bool", "level", "W", "Hz"}
BACKENDS = ["host_device", "loopback_device", "sim_device", "ios_device"]


@pytest.fixture
def host_device():
    device = HostDevice()
    yield device
    device.close()


@pytest.fixture
def loopback_device():
    device = LoopbackDevice("contract")
    yield device
    device.close()


@pytest.fixture
def sim_device():
    device = SimDevice.open("sim:android-flagship")
    yield device
    device.close()


@pytest.fixture
def ios_device(tmp_path, monkeypatch):
    """`ios:<udid>` through fakes at the pymobiledevice3 boundary (tests/ios_fakes.py)."""
    from harness.devices.ios import IosDevice, transport
    from tests.ios_fakes import FakePhone, fake_api

    udid = "00008110-001A2B3C4D5E601E"
    (tmp_path / "container").mkdir()
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setattr(transport, "_override", fake_api({udid: FakePhone(udid, tmp_path / "container")}))
    device = IosDevice.open(f"ios:{udid}")
    yield device
    device.close()


@pytest.mark.parametrize("scheme", sorted(devices.BACKENDS))
def test_every_registered_backend_declares_its_capabilities(scheme):
    cls = devices.backend(scheme)
    assert cls.scheme == scheme and cls.open is not Device.open
    caps = cls.capabilities
    assert caps.formats and set(caps.formats) <= set(FORMATS)
    assert set(caps.conditions) <= set(CONDITIONS)
    for runner in caps.runners:
        assert runner.name in RUNNERS and set(runner.delegates) <= set(DELEGATES) and runner.signatures


@pytest.fixture(params=BACKENDS)
def device(request) -> Device:
    return request.getfixturevalue(request.param)


def test_describe(device):
    d = device.describe()
    assert isinstance(d, DeviceDescription) and d.id == device.id
    assert d.cores >= 1 and d.abi and d.os
    for source in d.energy_sources:
        assert source.available or source.reason, f"{source.name} unavailable without a reason"
        assert source.kind in ("measured", "modelled")


def test_stage_is_idempotent(device, toy_artifact):
    artifact = Artifact(toy_artifact.name, toy_artifact.path, toy_artifact.sha256)
    first = device.stage([artifact])
    assert set(first) == {toy_artifact.sha256}
    assert device.stage([artifact]) == first


def test_run_conforms(device, toy_artifact):
    vector = next(v for v in load_vectors() if v["name"] == "train-steps")
    staged = device.stage([Artifact(toy_artifact.name, toy_artifact.path, toy_artifact.sha256)])
    job = job_from_vector(vector, staged[toy_artifact.sha256], toy_artifact.sha256)
    seen = []
    assert device.run(job, seen.append) == []  # streamed events are not also held by the device
    assert check_stream(seen, vector["expect"]) == []
    assert check_stream(device.run(job), vector["expect"]) == []  # without a callback they are returned


def test_sampler_and_snapshot_speak_the_vocabulary(device):
    sampler = device.sampler()
    with sampler.sampling() as samples:
        pass
    for s in samples + device.snapshot():
        assert isinstance(s, Sample) and s.unit in UNITS, s


def test_restore_without_induce_is_harmless(device):
    device.restore()
    device.restore()
