"""One phone, several harness sessions (two hosts of a lab, or two processes): the phone-side lock, per-session
job files, conditions read back after they are induced, and the thermal sources a description names."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from harness.bench import run_bench
from harness.cli import main
from harness.devices.android import AndroidDevice
from harness.devices.android.staging import session_token
from harness.devices.base import Artifact
from harness.devices.lock import DeviceBusy
from harness.errors import DeviceError
from harness.store import Store
from harness.suite import parse_suite
from tests.test_android_integration import ADB, _job, adb_env, phone  # noqa: F401  (fixtures)
from tests.test_conditions_suite import SUITE, _android_suite, _assert_restored

pytestmark = [pytest.mark.adb, pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed")]

LOCK = "/data/local/tmp/phonebench/lock"


def _owner_file(sandbox, **fields: object) -> None:
    path = sandbox.host_path(LOCK + "/owner")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in fields.items()))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_session_tokens_are_one_safe_path_component() -> None:
    token = session_token("-evil host/$(reboot)'..", 42, 1.5)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token) and not token.startswith(("-", "."))
    assert "42-1500-" in token
    assert session_token() != session_token()  # two sessions of one process differ too


def test_a_second_session_is_refused_naming_the_holder_until_the_first_closes(phone) -> None:  # noqa: F811
    sandbox, standin = phone
    first, second = AndroidDevice(standin.serial), AndroidDevice(standin.serial)  # as if from two hosts
    first.claim("lab-1 pid 7, bench of suite 'nightly'")
    with pytest.raises(DeviceBusy) as refused:
        second.claim("lab-2 pid 8, bench of suite 'adhoc'")
    message = str(refused.value)
    assert "\n" not in message
    assert re.search(rf"android:{re.escape(standin.serial)} is in use by lab-1 pid 7, bench of suite 'nightly' "
                     rf"\(host {re.escape(socket.gethostname())}, pid {os.getpid()}, since \d{{4}}-", message)
    assert "wait for it to finish or stop it" in message
    second.close()  # holds nothing: must not release the first's lock
    assert "owner=lab-1 pid 7" in sandbox.host_path(LOCK + "/owner").read_text()
    first.close()
    assert not sandbox.host_path(LOCK).exists()
    second.claim("lab-2 pid 8, bench of suite 'adhoc'")
    assert "owner=lab-2 pid 8, bench of suite 'adhoc'" in sandbox.host_path(LOCK + "/owner").read_text()
    first.close()  # a session that no longer holds the lock leaves the holder's alone
    assert sandbox.host_path(LOCK).exists()
    second.close()
    assert not sandbox.host_path(LOCK).exists()


def test_a_bench_on_a_phone_another_host_holds_fails_in_one_line(phone, tmp_path, monkeypatch, capsys,  # noqa: F811
                                                                  toy_artifact) -> None:
    sandbox, standin = phone
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path / "locks"))  # this host's flock is free: the phone is not
    other = AndroidDevice(standin.serial)
    other.claim("lab-2 pid 99, bench of suite 'nightly'")
    (tmp_path / "suite.toml").write_text(SUITE.replace('["host"]', f'["android:{standin.serial}"]')
                                         .replace("[conditions]\n", ""))
    store = tmp_path / "results"
    assert main(["bench", "--suite", str(tmp_path / "suite.toml"), "--results", str(store)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DeviceBusy: " in err
    assert f"android:{standin.serial} is in use by lab-2 pid 99, bench of suite 'nightly'" in err
    assert Store(store).runs() == []
    other.close()
    assert main(["bench", "--suite", str(tmp_path / "suite.toml"), "--results", str(store)]) == 0
    assert Store(store).runs()[-1]["status"] == "complete"
    assert not sandbox.host_path(LOCK).exists() and list(sandbox.host_path("/data/local/tmp/phonebench/runs")
                                                         .iterdir()) == []


def test_a_stale_lock_is_taken_over_and_says_whose(phone) -> None:  # noqa: F811
    sandbox, standin = phone
    far = int(time.time()) + 3600
    _owner_file(sandbox, token="gone-1", owner="lab-9 pid 1, bench of suite 'old'", host="lab-9", pid=1,
                since=int(time.time()) - 7200, expires=int(time.time()) - 60)  # its lease ran out
    device = AndroidDevice(standin.serial)
    note = device.claim("me")  # bench shows it (Reporter.note)
    assert "stale lock of lab-9 pid 1, bench of suite 'old' (host lab-9" in note == device.claim_note
    assert f"token={device.session}" in sandbox.host_path(LOCK + "/owner").read_text()
    device.close()
    # A lease still running on another host is live, whatever that host's pids are.
    _owner_file(sandbox, token="other-1", owner="lab-9 bench", host="lab-9", pid=_dead_pid(),
                since=int(time.time()), expires=far)
    with pytest.raises(DeviceBusy, match="in use by lab-9 bench"):
        AndroidDevice(standin.serial).claim("me")
    # A holder of this host whose process is gone (killed outright) does not keep the phone for its lease.
    _owner_file(sandbox, token="killed-1", owner="killed bench", host=socket.gethostname(), pid=_dead_pid(),
                since=int(time.time()), expires=far)
    device = AndroidDevice(standin.serial)
    device.claim("me")
    assert "took over the lock of killed bench" in device.claim_note and "process of this host is gone" in \
        device.claim_note
    device.close()


def test_a_session_that_lost_its_lock_is_told_at_its_next_job(phone, toy_artifact) -> None:  # noqa: F811
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    device.claim("me")
    staged = device.stage([Artifact("toy", toy_artifact.path, toy_artifact.sha256)])
    assert device.run(_job("j0", staged[toy_artifact.sha256], toy_artifact.sha256, 2))[-1]["event"] == "finished"
    _owner_file(sandbox, token="thief-1", owner="lab-4 bench", host="lab-4", pid=3, since=int(time.time()),
                expires=int(time.time()) + 600)  # it expired meanwhile and another took it over
    with pytest.raises(DeviceBusy, match="lost the phone's lock .* now held by lab-4 bench"):
        device.run(_job("j1", staged[toy_artifact.sha256], toy_artifact.sha256, 2))
    device.close()
    assert "token=thief-1" in sandbox.host_path(LOCK + "/owner").read_text()


def test_two_sessions_running_the_same_job_id_get_their_own_events(phone, toy_artifact) -> None:  # noqa: F811
    sandbox, standin = phone
    sandbox.update_state(job_read_delay_s=1.5)  # the companion reads its job file late
    first, second = AndroidDevice(standin.serial), AndroidDevice(standin.serial)
    path = first.stage([Artifact("toy", toy_artifact.path, toy_artifact.sha256)])[toy_artifact.sha256]
    assert second.stage([Artifact("toy", toy_artifact.path, toy_artifact.sha256)])[toy_artifact.sha256] == path
    results: dict[str, list] = {}
    thread = threading.Thread(target=lambda: results.setdefault(
        "first", first.run(_job("j0000", path, toy_artifact.sha256, iterations=3))))
    thread.start()
    time.sleep(0.5)  # the first job file is on the phone, not read yet
    results["second"] = second.run(_job("j0000", path, toy_artifact.sha256, iterations=7))
    thread.join(60)
    invokes = {name: sum(e["event"] == "invoke" for e in events) for name, events in results.items()}
    assert invokes == {"first": 2 + 3, "second": 2 + 7}
    paths = {d.runner.job_path("j0000") for d in (first, second)}
    assert len(paths) == 2 and all(p.startswith("/data/local/tmp/phonebench/runs/") for p in paths)
    assert all(sandbox.host_path(p).is_file() for p in paths)
    first.close()
    assert not sandbox.host_path(first.session_dir).exists() and sandbox.host_path(second.session_dir).is_dir()
    second.close()
    assert list(sandbox.host_path("/data/local/tmp/phonebench/runs").iterdir()) == []
    assert sandbox.host_path(path).is_file()  # staged artifacts stay, shared by every session


def test_a_claim_clears_job_files_of_sessions_that_never_closed(phone, toy_artifact) -> None:  # noqa: F811
    sandbox, standin = phone
    leftover = sandbox.host_path("/data/local/tmp/phonebench/runs/killed-host-1-2-0/jobs/j0000.json")
    leftover.parent.mkdir(parents=True)
    leftover.write_text("{}")
    device = AndroidDevice(standin.serial)
    device.claim("me")
    assert not leftover.parent.parent.exists()
    device.close()


def test_conditions_of_the_holding_session_are_not_replayed_by_another(phone) -> None:  # noqa: F811
    sandbox, standin = phone
    holder = AndroidDevice(standin.serial)
    holder.claim("lab-1 bench")
    holder.induce("screen_off")
    other = AndroidDevice(standin.serial)  # e.g. `harness restore` or `harness devices` from another host
    assert other.recovered == [] and not sandbox.state()["screen_on"]
    with pytest.raises(DeviceBusy, match="in use by lab-1 bench.*screen_off.*restore after it finishes"):
        other.restore()
    assert not sandbox.state()["screen_on"]
    holder.restore()
    holder.close()
    assert sandbox.state()["screen_on"]


# ------------------------------------------------------------------ conditions read back


def test_a_condition_the_phone_has_no_service_for_is_an_error_not_a_success(phone) -> None:  # noqa: F811
    sandbox, standin = phone
    sandbox.update_state(missing_services=["deviceidle"])
    device = AndroidDevice(standin.serial)
    with pytest.raises(DeviceError) as failed:
        device.induce("idle")
    assert "\n" not in str(failed.value)
    assert re.search(r"condition idle not taken: asked deep idle \(IDLE\) \(`dumpsys deviceidle force-idle`\), "
                     r"the phone reports Can't find service: deviceidle", str(failed.value))
    assert device.conditions.pending() == []  # nothing changed on the phone: nothing left to undo


def test_a_condition_the_phone_ignores_is_an_error_and_still_undone(phone) -> None:  # noqa: F811
    sandbox, standin = phone
    sandbox.update_state(inert_services=["thermalservice"])
    device = AndroidDevice(standin.serial)
    device.induce("unplugged")
    with pytest.raises(DeviceError, match=r"condition thermal_status not taken: asked status 3 \(override\) .*"
                                          r"the phone reports status 0 \(no override\)"):
        device.induce("thermal_status", 3)
    assert device.conditions.pending() == ["unplugged", "thermal_status"]  # restore still undoes both
    device.restore()
    assert not sandbox.state()["battery_unplugged"] and device.conditions.pending() == []
    sandbox.update_state(missing_services=["thermalservice"], inert_services=[])
    with pytest.raises(DeviceError, match="the phone reports cmd: Can't find service: thermalservice"):
        device.induce("thermal_status", 2)
    assert device.conditions.pending() == []


def test_a_bench_whose_condition_is_not_taken_stores_nothing_and_restores(phone, tmp_path,  # noqa: F811
                                                                        toy_artifact) -> None:
    sandbox, standin = phone
    sandbox.update_state(missing_services=["deviceidle"])
    store = Store(tmp_path / "store")
    with pytest.raises(DeviceError, match="condition idle not taken"):
        run_bench(parse_suite(_android_suite(standin.serial)), store)
    assert store.runs() == []
    _assert_restored(sandbox.state())
    assert not sandbox.host_path(LOCK).exists()  # closed: the lock released


# ------------------------------------------------------------------ thermal sources in the description


def test_the_description_names_the_thermal_sources(phone) -> None:  # noqa: F811
    sandbox, standin = phone
    assert AndroidDevice(standin.serial).describe().extra["thermal_sources"] == "hal (3 sensors), 2 zones"
    sandbox.update_state(missing_services=["thermalservice"])
    assert AndroidDevice(standin.serial).describe().extra["thermal_sources"] == "2 zones"
