"""The iOS backend through fakes at the pymobiledevice3 boundary (tests/ios_fakes.py), the captured
IOPMPowerSource dictionaries, and the real library's names; a real iPhone only where one is attached."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import time
from pathlib import Path

import pytest

from harness.analysis.energy import INVALID, estimate_energy
from harness.devices.base import Artifact
from harness.devices.ios import device as ios_device_module
from harness.devices.ios import transport
from harness.devices.ios.device import IosDevice, survey_ios
from harness.devices.ios.runner import Lines
from harness.errors import CompanionAppError, DeviceTimeout, UserError
from harness.events import EnergySource
from harness.telemetry.iopm import parse_power_source, power_source_samples, signed16
from models.coreml import stored_zip
from tests.ios_fakes import DISCHARGING, FakePhone, fake_api

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UDID = "00008110-001A2B3C4D5E601E"


def _captured_dicts(path: Path) -> list[dict]:
    """The dictionaries of one capture: JSON lines, or one Python repr (closed where the source truncated it)."""
    body = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    if body[0].startswith("{\""):
        return [json.loads(line) for line in body if line.strip()]
    for end in range(len(body), 0, -1):  # drop lines from the cut until the rest closes
        text = "\n".join(body[:end]).rstrip().rstrip(",")
        depth = text.count("{") - text.count("}")
        try:
            return [ast.literal_eval(text + "}" * depth)]
        except (SyntaxError, ValueError):
            continue
    raise AssertionError(f"{path.name}: no dictionary")


def test_every_capture_parses_with_units_and_sign():
    monitor = _captured_dicts(FIXTURES / "ios_pymobiledevice3_battery_monitor_ndjson.txt")
    assert [(r.current_ma, r.voltage_mv, r.temperature_c, r.level_pct, r.charging)
            for r in map(parse_power_source, monitor)] == [(-211, 4123, 30.10, 78, False),
                                                           (-186, 4340, 29.89, 100, False)]
    samples = {(s.source, s.channel): s for s in power_source_samples(parse_power_source(monitor[0]), 5)}
    assert samples["iopm", "current"].value == pytest.approx(0.211) and samples["iopm", "current"].unit == "A"
    assert samples["iopm", "voltage"].value == pytest.approx(4.123) and samples["battery", "temp"].value == 30.10
    assert samples["battery", "charging"].value == 0.0 and samples["battery", "level"].unit == "%"

    (tidevice,) = _captured_dicts(FIXTURES / "ios_iopmpowersource_tidevice35_excerpt.py.txt")
    reading = parse_power_source(tidevice["Diagnostics"]["IORegistry"])  # get_battery() returns IORegistry
    assert reading.average_ma == 1602 and reading.current_ma is None  # charging from "usb host": positive
    assert reading.voltage_mv == 3876 and reading.external is True and reading.powered
    assert (reading.raw_capacity_mah, reading.max_capacity_mah) == (612, 2900)
    charging = {(s.source, s.channel): s.value for s in power_source_samples(reading, 0)}
    assert charging == {("iopm", "voltage"): 3.876, ("battery", "charging"): 1.0}


def test_sixteen_bit_currents_are_twos_complement():
    assert signed16(65325) == -211 and signed16(32767) == 32767 and signed16(-5) == -5
    assert parse_power_source({"InstantAmperage": 65350}).current_ma == -186


def test_lines_are_reassembled_from_chunks():
    lines = Lines()
    assert lines.feed('{"a": 1}\n{"b"') == ['{"a": 1}'] and lines.feed(': 2}\r\n\n') == ['{"b": 2}', ""]


@pytest.fixture
def phones(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setattr(ios_device_module, "_survey_cache", None)
    found = {UDID: FakePhone(UDID, tmp_path / "container")}
    (tmp_path / "container").mkdir()
    monkeypatch.setattr(transport, "_override", fake_api(found))
    return found


def test_fake_boundary_matches_the_real_library():
    pytest.importorskip("pymobiledevice3")
    real, fake = transport._load(), fake_api({})
    calls = {"ProcessControl": ["launch", "kill", "__aiter__"], "DeviceInfo": ["mach_time_info",
             "hardware_information", "is_running_pid"], "ConditionInducer": ["list", "set", "clear"],
             "HouseArrestService": ["create", "exists", "makedirs", "set_file_contents", "get_file_contents",
                                    "rename", "rm", "listdir"], "DiagnosticsService": ["get_battery"],
             "InstallationProxyService": ["get_apps"], "EnergyMonitor": ["__aiter__", "__aenter__"]}
    for name, methods in calls.items():
        for method in methods:
            assert hasattr(getattr(real, name), method) and hasattr(getattr(fake, name), method), (name, method)
    assert {"arguments", "environment", "kill_existing"} <= set(inspect.signature(real.ProcessControl.launch).parameters)
    assert {"serial", "autopair"} <= set(inspect.signature(real.create_using_usbmux).parameters)
    assert {"aopen", "aclose"} <= set(dir(real.UserspaceRsdTunnel))


def test_without_the_library_devices_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(ios_device_module, "_survey_cache", None)
    monkeypatch.setattr(transport, "_loaded", None)

    def missing():
        raise transport.LibraryMissing(transport.INSTALL_HINT)

    monkeypatch.setattr(transport, "_load", missing)
    ready, problems = survey_ios()
    assert ready == [] and [(p.id, p.state) for p in problems] == [("ios:*", "not installed")]
    assert "pip install '.[ios]'" in problems[0].fix


def test_real_library_without_usbmuxd_is_one_line_with_the_fix(monkeypatch):
    pytest.importorskip("pymobiledevice3")
    monkeypatch.setattr(ios_device_module, "_survey_cache", None)
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", "127.0.0.1:9")  # nothing listens there
    ready, problems = survey_ios()
    assert ready == [] and [(p.id, p.state) for p in problems] == [("ios:*", "no usbmuxd")]
    assert "usbmuxd" in problems[0].fix and "\n" not in problems[0].fix


@pytest.mark.parametrize(("change", "state", "words"), [
    ({"paired": False}, "not paired", "Trust"),
    ({"developer_mode": False}, "developer mode off", "Developer Mode"),
    ({"tunnel": False}, "no tunnel", "tunneld"),
    ({"version": "17.2"}, "no tunnel", "tunneld"),
    ({"installed": False}, "no companion", "device_apps/ios/README.md"),
])
def test_unusable_phones_are_listed_with_their_fix(phones, change, state, words):
    for key, value in change.items():
        setattr(phones[UDID], key, value)
    ready, problems = survey_ios()
    assert ready == [] and [(p.id, p.state) for p in problems] == [(f"ios:{UDID}", state)]
    assert words in problems[0].fix


def test_usable_phone_is_discovered_and_described(phones):
    (device,) = IosDevice.discover()
    try:
        d = device.describe()
        assert (d.id, d.kind, d.model, d.os, d.cores, d.battery_capacity_mah) == (
            f"ios:{UDID}", "ios", "iPhone14,5", "iOS 17.5", 6, 3227.0)
        assert [(s.name, s.available, s.resolution) for s in d.energy_sources] == [("iopm", True, "1 mA")]
        assert "never joules" in d.extra["dvt_energy"]
    finally:
        device.close()


def test_wifi_phones_are_found_over_mobdev2(phones, monkeypatch):
    phones[UDID].wifi_only = True
    assert survey_ios() == ([], [])  # not browsed for unless asked
    monkeypatch.setattr(ios_device_module, "_survey_cache", None)
    monkeypatch.setenv("HARNESS_IOS_WIFI", "1")
    (device,) = IosDevice.discover()
    try:
        assert device.connection == "mobdev2" and device.describe().extra["connection"] == "mobdev2"
    finally:
        device.close()


def test_bad_ids_are_refused():
    with pytest.raises(UserError, match="expected ios:<udid>"):
        IosDevice.open("ios:../../etc")


def test_staging_is_content_addressed_and_checked(phones, tmp_path):
    package = tmp_path / "model.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Manifest.json").write_text("{}")
    (package / "Data" / "weights.bin").write_bytes(b"\0" * 64)
    zipped = stored_zip(package)
    artifact = Artifact("har-cnn/coreml", package, hashlib.sha256(zipped).hexdigest(),
                        {"coreml": {"updatable_layers": ["head"]}})
    device = IosDevice(UDID)
    try:
        staged = device.stage([artifact])
        path = staged[artifact.sha256]
        assert path == f"Documents/phonebench/artifacts/{artifact.sha256}.mlpackage.zip"
        assert (phones[UDID].container / path).read_bytes() == zipped
        assert json.loads((phones[UDID].container / (path + ".layers.json")).read_text()) == ["head"]
        writes = len(phones[UDID].writes)
        assert device.stage([artifact]) == staged and len(phones[UDID].writes) == writes  # nothing pushed again
    finally:
        device.close()


def test_sampler_keeps_only_refreshed_readings_and_says_how_often(phones):
    phones[UDID].refresh_every = 3
    device = IosDevice(UDID, sample_interval_s=0.02)
    try:
        sampler = device.sampler()
        with sampler.sampling() as samples:
            time.sleep(0.3)
        currents = [s for s in samples if s.channel == "current"]
        readings = next(phones[UDID].calls)
        assert 2 <= len(currents) <= readings // 3 + 2  # one per refresh (and the closing reading)
        assert "refreshed every 20 s" in sampler.evidence["iopm"]
    finally:
        device.close()


def test_energy_on_usb_power_is_invalid_with_the_reason():
    charging = parse_power_source({**DISCHARGING, "ExternalConnected": True, "InstantAmperage": 900})
    samples = [s for t in range(0, 11) for s in power_source_samples(charging, t * 1_000_000_000)]
    estimate = estimate_energy(samples, 1_000_000_000, 9_000_000_000, EnergySource("iopm", True, resolution="1 mA"))
    assert estimate.status == INVALID and "charging" in estimate.reason


def test_thermal_condition_is_held_checked_and_restored(phones):
    device = IosDevice(UDID)
    try:
        with pytest.raises(UserError, match="no iOS profile"):
            device.induce("thermal_status", 2)
        device.induce("thermal_status", 3)
        assert phones[UDID].thermal()["activeProfile"] == "ThermalSerious"
        assert device.conditions.journal.pending() == ["thermal_status"]
        device.restore()
        assert phones[UDID].thermal()["isActive"] is False and device.conditions.journal.pending() == []
    finally:
        device.close()


def test_a_killed_runs_condition_is_cleared_when_the_phone_is_opened(phones):
    IosDevice(UDID).conditions.journal.add("thermal_status")  # journalled, then the process died
    phones[UDID].thermal().update(isActive=True, activeProfile="ThermalCritical")
    device = IosDevice(UDID)
    try:
        assert device.recovered == ["thermal_status"] and phones[UDID].thermal()["isActive"] is False
    finally:
        device.close()


def test_forget_personalization_removes_staged_person_data(phones):
    folder = phones[UDID].container / "Documents/phonebench/artifacts"
    folder.mkdir(parents=True)
    (folder / "a.npz").write_bytes(b"x")
    (folder / "m.mlmodel").write_bytes(b"y")
    device = IosDevice(UDID)
    try:
        lines = device.forget_personalization()
        assert any("a.npz" in line for line in lines) and sorted(p.name for p in folder.iterdir()) == ["m.mlmodel"]
    finally:
        device.close()


def _job(device, toy_artifact) -> dict:
    from harness.protocol import job_from_vector, load_vectors

    vector = next(v for v in load_vectors() if v["name"] == "train-steps")
    staged = device.stage([Artifact(toy_artifact.name, toy_artifact.path, toy_artifact.sha256)])
    return job_from_vector(vector, staged[toy_artifact.sha256], toy_artifact.sha256)


def test_a_job_beside_the_sampler_gets_energy_scores_never_joules(phones, toy_artifact):
    device = IosDevice(UDID, sample_interval_s=0.02)
    try:
        job = _job(device, toy_artifact)
        with device.sampler().sampling() as samples:
            events = device.run(job)
        assert events[-1]["event"] == "finished"
        assert phones[UDID].launched == [["--job", f"Documents/phonebench/runs/{device.session}/jobs/"
                                          f"{job['job_id']}.json"]]
        scores = [s for s in samples if s.source == "dvt_energy"]
        assert scores and {s.unit for s in scores} == {"score"} and "energy.cost" in {s.channel for s in scores}
    finally:
        device.close()


def test_a_companion_that_dies_mid_job_fails_it_with_its_output(phones, toy_artifact):
    phones[UDID].app = ("-c", "import sys; print('dyld: Library not loaded'); sys.exit(3)")
    device = IosDevice(UDID)
    try:
        with pytest.raises(CompanionAppError, match="without finished/error after 0 events: dyld: Library not"):
            device.run(_job(device, toy_artifact))
    finally:
        device.close()


def test_a_job_past_its_timeout_is_stopped(phones, toy_artifact):
    phones[UDID].app = ("-c", "import time; time.sleep(60)")
    device = IosDevice(UDID)
    try:
        with pytest.raises(DeviceTimeout, match="did not finish within 0.5 s"):
            device.run(_job(device, toy_artifact), timeout_s=0.5)
        assert all(p.returncode is not None for p in phones[UDID].running.values())  # killed
    finally:
        device.close()


def _usbmux_phone() -> str | None:
    try:
        listed = transport.LOOP.call(transport._load().list_devices(), "usbmuxd", timeout_s=5)
    except Exception:  # noqa: BLE001 (no library, no usbmuxd: no phone)
        return None
    return listed[0].serial if listed else None


@pytest.mark.ios
@pytest.mark.skipif(_usbmux_phone() is None, reason="no iPhone through usbmuxd")
def test_a_real_iphone_describes_itself():
    udid = _usbmux_phone()
    device = IosDevice(udid)
    try:
        d = device.describe()
        assert d.os.startswith("iOS ") and d.cores >= 1
    finally:
        device.close()
