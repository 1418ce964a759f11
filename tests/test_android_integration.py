"""The Android backend end to end: real Debian `adb` server, real adbutils, the adbd stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.devices.android import AndroidDevice, discover_android
from harness.devices.android.transport import sh_join
from harness.devices.base import Artifact
from harness.errors import DeviceError, UserError
from tests.adbd_standin import AdbdStandin, DeviceSandbox

ADB = "/usr/bin/adb"
pytestmark = [
    pytest.mark.adb,
    pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed (apt-get install adb)"),
]
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def adb_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A private adb server on a non-default port (and HOME, for its keys), killed afterwards."""
    home = tmp_path_factory.mktemp("adb-home")
    env = {"ANDROID_ADB_SERVER_PORT": str(_free_port()), "HOME": str(home)}
    saved = {k: os.environ.get(k) for k in (*env, "HARNESS_ADB_SERVERS")}
    os.environ.update(env)
    os.environ.pop("HARNESS_ADB_SERVERS", None)
    full = {**os.environ}
    subprocess.run([ADB, "start-server"], env=full, check=True, capture_output=True, timeout=30)
    try:
        yield full
    finally:
        subprocess.run([ADB, "kill-server"], env=full, capture_output=True, timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _connect(env: dict[str, str], serial: str) -> None:
    subprocess.run([ADB, "connect", serial], env=env, check=True, capture_output=True, timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = subprocess.run([ADB, "-s", serial, "get-state"], env=env, capture_output=True, text=True)
        if state.stdout.strip() == "device":
            return
        time.sleep(0.1)
    raise AssertionError(f"{serial} never came online")


@pytest.fixture()
def phone(adb_env, tmp_path) -> Iterator[tuple[DeviceSandbox, AdbdStandin]]:
    sandbox = DeviceSandbox(tmp_path / "device")
    standin = AdbdStandin(sandbox)
    _connect(adb_env, standin.serial)
    try:
        yield sandbox, standin
    finally:
        subprocess.run([ADB, "disconnect", standin.serial], env=adb_env, capture_output=True, timeout=30)
        standin.stop()


def test_discovery_and_description(phone) -> None:
    sandbox, standin = phone
    devices = {d.id: d for d in discover_android()}
    device = devices[f"android:{standin.serial}"]
    d = device.describe()
    assert (d.kind, d.model, d.os, d.soc, d.abi) == ("android", "Standin 7", "Android 14 (API 34)", "QTI SM8550", "arm64-v8a")
    assert d.battery_capacity_mah == 4500
    assert d.cores == os.cpu_count()
    sources = {s.name: s for s in d.energy_sources}
    assert sources["fuel_gauge"].available and sources["charge_counter"].available
    assert not sources["odpm"].available and "Pixel 6+" in sources["odpm"].reason
    assert d.extra["current_now_unit"] == "uA" and d.extra["current_now_charging_sign"] == "positive"
    assert d.extra["transport"] == "tcp" and d.extra["voltage_now_unit"] == "uV"


def test_harness_devices_cli_lists_the_standin(phone, adb_env) -> None:
    _, standin = phone
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "devices", "--json"], cwd=REPO, env=adb_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = {d["id"]: d for d in json.loads(proc.stdout)}
    assert listed[f"android:{standin.serial}"]["model"] == "Standin 7"
    sources = listed[f"android:{standin.serial}"]["extra"]["thermal_sources"]
    assert "zone" in sources and "sensor" in sources, sources
    table = subprocess.run([sys.executable, "-m", "harness.cli", "devices"], cwd=REPO, capture_output=True,
                           env={**adb_env, "COLUMNS": "400"}, text=True, timeout=120)
    assert "thermal sources" in table.stdout and sources.split(",")[0] in table.stdout, table.stdout


def test_remote_server_list_and_bad_serial(phone, adb_env, monkeypatch) -> None:
    _, standin = phone
    # The lab list may name the local server again (deduplicated) and an unreachable host (skipped).
    monkeypatch.setenv("HARNESS_ADB_SERVERS", f"127.0.0.1:{adb_env['ANDROID_ADB_SERVER_PORT']},127.0.0.1:{_free_port()}")
    assert [d.id for d in discover_android()] == [f"android:{standin.serial}"]
    with pytest.raises(UserError, match="no online Android device"):
        AndroidDevice("no-such-serial")
    monkeypatch.setenv("HARNESS_ADB_SERVERS", "not-a-server")
    with pytest.raises(UserError, match="host:port"):
        discover_android()


def test_staging_is_checksummed_and_idempotent(phone, tmp_path) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    model = tmp_path / "model; rm -rf $HOME 'x'.tflite"  # hostile host name never reaches the shell
    model.write_bytes(os.urandom(200_000))
    import hashlib

    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    staged = device.stage([Artifact("evil'; reboot; #", model, digest)])
    assert staged[digest].endswith(f"/artifacts/{digest}.tflite")
    assert sandbox.host_path(staged[digest]).read_bytes() == model.read_bytes()
    assert len(device.stager.pushed) == 2  # the model and the sampler script
    device.stage([Artifact("again", model, digest)])
    assert len(device.stager.pushed) == 2  # unchanged: nothing pushed again
    sandbox.host_path(staged[digest]).write_bytes(b"corrupted")
    device.stage([Artifact("again", model, digest)])
    assert device.stager.pushed[-1] == staged[digest]
    assert sandbox.host_path(staged[digest]).read_bytes() == model.read_bytes()
    with pytest.raises(DeviceError, match="changed since it was built"):
        device.stage([Artifact("stale", model, "0" * 64)])


@pytest.mark.parametrize("hostile", ["a b", "$(touch /data/local/tmp/pwned)", "x'; touch /data/local/tmp/pwned; '",
                                     "`id`", "semi;colon && more | pipe > out", "*", "new\nline", ""])
def test_shell_quoting_survives_hostile_strings(phone, hostile: str) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    out = device.shell.run(sh_join(["printf", "%s", hostile])).stdout
    assert out.replace(str(sandbox.root), "") == hostile  # the stand-in maps device paths into its sandbox
    assert not sandbox.host_path("/data/local/tmp/pwned").exists()


def test_sampler_runs_on_the_device(phone) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    sampler = device.sampler()
    shells_before = len(standin.log)
    with sampler.sampling() as samples:
        time.sleep(1.0)
    # Three round trips for a second of 10 Hz sampling (start, stop, pull) plus clean-up: never one per sample.
    assert len(standin.log) - shells_before <= 5
    current = [s for s in samples if (s.source, s.channel) == ("fuel_gauge", "current")]
    assert len(current) >= 8
    assert all(s.value == pytest.approx(0.45) for s in current)
    assert {("thermal", "status"), ("battery", "charging"), ("thermal", "hal:VIRTUAL-SKIN")} <= {(s.source, s.channel) for s in samples}
    assert not list(sandbox.host_path("/data/local/tmp/phonebench/telemetry").iterdir())  # cleaned up


def test_a_snapshot_is_one_round_trip_with_every_channel(phone) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    device.describe()
    device.sampler()  # stages the script
    shells_before = len(standin.log)
    samples = device.snapshot()  # what every cool-down polls before a job
    assert len(standin.log) - shells_before <= 2  # the reading itself; the script's staging check at most
    assert {("thermal", "status"), ("battery", "charging"), ("thermal", "hal:VIRTUAL-SKIN"),
            ("fuel_gauge", "current")} <= {(s.source, s.channel) for s in samples}
    assert not list(sandbox.host_path("/data/local/tmp/phonebench/telemetry").iterdir())  # nothing left behind


def test_odpm_rails_preferred_where_present(adb_env, tmp_path) -> None:
    sandbox = DeviceSandbox(tmp_path / "pixel", odpm_rails_w={"[S4M_VDD_CPUCL0]:CPU(LITTLE)": 0.8, "[VSYS_PWR_DISPLAY]:Display": 0.3})
    standin = AdbdStandin(sandbox)
    _connect(adb_env, standin.serial)
    try:
        device = AndroidDevice(standin.serial)
        sources = {s.name: s for s in device.describe().energy_sources}
        assert sources["odpm"].available and sources["odpm"].resolution == "1 uJ"
        with device.sampler().sampling() as samples:
            time.sleep(1.2)
        rail = [s for s in samples if s.source == "odpm" and s.channel == "[S4M_VDD_CPUCL0]:CPU(LITTLE)"]
        assert len(rail) >= 2 and all(s.unit == "J" for s in rail)
        rate = (rail[-1].value - rail[0].value) / ((rail[-1].t_ns - rail[0].t_ns) / 1e9)
        assert rate == pytest.approx(0.8, rel=0.15)
    finally:
        subprocess.run([ADB, "disconnect", standin.serial], env=adb_env, capture_output=True, timeout=30)
        standin.stop()


def test_conditions_restored_after_exception(phone) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    with pytest.raises(RuntimeError):
        try:
            device.induce("unplugged")
            device.induce("battery_level", 15)
            device.induce("thermal_status", 3)
            device.induce("idle")
            device.induce("screen_off")
            state = sandbox.state()
            assert state["battery_unplugged"] and state["battery_level"] == 15 and state["thermal_override"] == 3
            assert state["idle_forced"] and not state["screen_on"]
            raise RuntimeError("job blew up")
        finally:
            device.restore()
    state = sandbox.state()
    assert not state["battery_unplugged"] and state["battery_level"] is None and state["thermal_override"] is None
    assert not state["idle_forced"] and state["screen_on"]
    assert state["log"][-4:] == ["screen on", "deviceidle unforce", "thermal reset", "battery reset"]
    with pytest.raises(UserError, match="0 \\(none\\) .. 6"):
        device.induce("thermal_status", 9)
    with pytest.raises(UserError, match="unknown condition"):
        device.induce("airplane")


def test_conditions_restored_after_a_killed_run(phone, adb_env) -> None:
    sandbox, standin = phone
    script = textwrap.dedent(f"""
        import sys, time
        from harness.devices.android import AndroidDevice
        device = AndroidDevice({standin.serial!r})
        device.induce("unplugged")
        device.induce("thermal_status", 4)
        device.induce("screen_off")
        print("induced", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=adb_env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "induced"
    finally:
        proc.send_signal(signal.SIGKILL)  # no finally, no atexit: only the journal on the phone survives
        proc.wait()
        proc.stdout.close()
    state = sandbox.state()
    assert state["battery_unplugged"] and state["thermal_override"] == 4 and not state["screen_on"]
    device = AndroidDevice(standin.serial)  # the next session finds the journal and undoes it
    assert sorted(device.recovered) == ["screen_off", "thermal_status", "unplugged"]
    state = sandbox.state()
    assert not state["battery_unplugged"] and state["thermal_override"] is None and state["screen_on"]
    assert device.conditions.pending() == []


def test_adb_over_wifi(phone) -> None:
    _, standin = phone
    device = AndroidDevice(standin.serial)
    # The stand-in's wlan0 is 127.0.0.1 and it already listens on its port: `adb connect` must succeed.
    assert device.enable_wifi(port=standin.port) == standin.serial
    assert any(s.startswith("tcpip:") for s in standin.log)


# ------------------------------------------------------------------ jobs through the companion stand-in


def _job(job_id: str, path: str, sha: str, iterations: int = 20) -> dict:
    return {"protocol": 1, "job_id": job_id, "artifact": {"path": path, "sha256": sha}, "signature": "infer",
            "input": {"kind": "synthetic", "seed": 1}, "warmup": 2, "iterations": iterations, "threads": 1,
            "delegate": "cpu"}


def test_run_job_streams_events(phone, toy_artifact) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    staged = device.stage([Artifact("toy", toy_artifact.path, toy_artifact.sha256)])
    events: list[dict] = []
    assert device.run(_job("j1", staged[toy_artifact.sha256], toy_artifact.sha256), events.append) == []
    assert events[0]["event"] == "started" and events[-1]["event"] == "finished"
    assert sum(e["event"] == "invoke" for e in events) == 22
    missing = device.run(_job("j2", "/data/local/tmp/phonebench/artifacts/none.tflite", toy_artifact.sha256))
    assert missing[-1]["event"] == "error" and missing[-1]["code"] == "artifact_missing"


def test_disconnect_mid_job_is_a_device_error(phone, toy_artifact) -> None:
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    staged = device.stage([Artifact("toy", toy_artifact.path, toy_artifact.sha256)])

    def on_event(event: dict) -> None:
        if event["event"] == "invoke" and event["index"] == 3:
            threading.Thread(target=standin.drop_connections).start()

    started = time.monotonic()
    with pytest.raises(DeviceError, match="offline|closed|reset|EOF|without finished"):
        device.run(_job("cut", staged[toy_artifact.sha256], toy_artifact.sha256, iterations=100_000), on_event)
    assert time.monotonic() - started < 60


BENCH_SUITE = """
name = "android-standin"
repetitions = 1
baseline_s = 1.0
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "infer"
signature = "infer"
runner = "companion"
warmup = 2
iterations = 50
min_duration_s = 2.0
"""


def test_bench_run_energy_matches_scripted_power(phone, adb_env, tmp_path) -> None:
    sandbox, standin = phone
    # Idle 450 mA, 1.2 A while the job runs, 3.9 V: net power (1.2 - 0.45) * 3.9 = 2.925 W over the job.
    sandbox.update_state(job_current_now="-1200000")
    (tmp_path / "suite.toml").write_text(BENCH_SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "bench", "--suite", str(tmp_path / "suite.toml"),
         "--device", f"android:{standin.serial}", "--results", str(tmp_path / "store")],
        cwd=REPO, env=adb_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "complete, 1 jobs (0 failed)" in proc.stdout
    dashboard = Path(proc.stdout.split("dashboard: ")[1].split()[0])
    assert dashboard.is_file()
    from harness.analysis.energy import measured_window
    from harness.store import Store

    store = Store(tmp_path / "store")
    row = store.results("latest").iloc[0]
    events = store.events("latest").to_dict("records")
    t0, t1, _ = measured_window(events)
    analytic = (1.2 - 0.45) * 3.9 * (t1 - t0) / 1e9
    assert row["energy_source"] == "fuel_gauge" and row["energy_status"] == "ok"
    assert row["energy_joules"] == pytest.approx(analytic, rel=0.01)
    samples = store.samples("latest")
    assert {"fuel_gauge", "charge_counter", "battery", "thermal"} <= set(samples["source"])
    device = store.manifest("latest")["devices"][0]
    assert device["extra"]["current_now_unit"] == "uA"


def test_bench_energy_invalid_while_charging(phone, adb_env, tmp_path) -> None:
    sandbox, standin = phone
    sandbox.set_power_supply(status="Charging", current_now="500000")
    (tmp_path / "suite.toml").write_text(BENCH_SUITE.replace("min_duration_s = 2.0", "min_duration_s = 0.5"))
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "bench", "--suite", str(tmp_path / "suite.toml"),
         "--device", f"android:{standin.serial}", "--results", str(tmp_path / "store")],
        cwd=REPO, env=adb_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from harness.store import Store

    row = Store(tmp_path / "store").results("latest").iloc[0]
    assert row["energy_status"] == "invalid" and "charging" in row["energy_reason"]
    assert row["energy_joules"] is None or row["energy_joules"] != row["energy_joules"]
