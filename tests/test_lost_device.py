"""A phone lost mid-run: its job is stored failed with its cause, the other phone carries on, the run ends
`incomplete`, and `harness bench --resume RUN` runs only what is missing (real adb server, two stand-ins)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.bench import Reporter, resume_bench, run_bench
from harness.errors import UserError
from harness.store import Store
from harness.suite import parse_suite
from tests.adbd_standin import AdbdStandin, DeviceSandbox
from tests.suites import infer, toy_suite
from tests.test_android_integration import ADB, REPO, _connect, adb_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.adb



def _suite(a: str, b: str) -> str:
    return toy_suite("two-phones", infer(runner="companion", warmup=2, iterations=40, min_duration_s=2.0),
                     repetitions=2, devices=[f"android:{a}", f"android:{b}"])


class _CutAt(Reporter):
    """Pulls phone A's cable at its second job's fourth invoke; records what the harness said."""

    def __init__(self, standin: AdbdStandin, device_id: str):
        self.standin, self.device_id, self.lost = standin, device_id, []

    def event(self, job, event) -> None:
        if job.device == self.device_id and job.repetition == 1 and event.get("index") == 3:
            threading.Thread(target=self.standin.stop).start()

    def device_lost(self, device_id, cause, jobs_left, run_id) -> None:
        self.lost.append((device_id, cause, jobs_left))


def test_lost_phone_then_resume(adb_env, tmp_path) -> None:  # noqa: F811 (the imported fixture)
    phones = []
    for name in ("a", "b"):
        sandbox = DeviceSandbox(tmp_path / name)
        standin = AdbdStandin(sandbox)
        _connect(adb_env, standin.serial)
        phones.append((sandbox, standin))
    (sa, a), (_, b) = phones
    store = Store(tmp_path / "store")
    suite = parse_suite(_suite(a.serial, b.serial), "two-phones.toml")
    reporter = _CutAt(a, f"android:{a.serial}")
    try:
        result = run_bench(suite, store, reporter=reporter)
        rows = store.results(result.run_id)
        assert result.status == "incomplete", rows[["job_id", "status", "error_code", "error_message"]].to_string()
        by_device = {d: g for d, g in rows.groupby("device_id")}
        # phone A: its first job ran, its second was lost mid-job and is stored failed with the cause
        a_rows = by_device[f"android:{a.serial}"]
        assert list(a_rows["status"]) == ["ok", "failed"]
        lost_row = a_rows.iloc[1]
        assert lost_row["error_code"] == "DeviceLost"
        assert "stopped answering during job" in lost_row["error_message"]
        assert "sh -c" not in lost_row["error_message"] and "am instrument" not in lost_row["error_message"]
        assert len(store.events(result.run_id, lost_row["job_id"])) >= 4  # the events it had streamed
        # phone B's jobs all ran
        assert list(by_device[f"android:{b.serial}"]["status"]) == ["ok", "ok"]
        assert reporter.lost and reporter.lost[0][0] == f"android:{a.serial}" and reporter.lost[0][2] == 1
        manifest = store.manifest(result.run_id)
        assert manifest["status"] == "incomplete" and f"android:{a.serial}" in manifest["lost"]
        with pytest.raises(UserError, match="complete runs"):
            from harness.compare import check_comparable
            check_comparable(store, result.run_id, result.run_id)

        # the phone comes back on the same address; only the lost job runs again, into the same run
        a2 = AdbdStandin(sa, port=a.port)
        _connect(adb_env, a2.serial)
        try:
            proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--resume", result.run_id,
                                   "--results", str(tmp_path / "store")],
                                  cwd=REPO, env=adb_env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "complete, 1 jobs (0 failed)" in proc.stdout
        finally:
            a2.stop()
        resumed = store.results(result.run_id)
        assert len(resumed) == 4 and set(resumed["status"]) == {"ok"}
        manifest = store.manifest(result.run_id)
        assert manifest["status"] == "complete" and manifest["resumes"][0]["jobs"] == [lost_row["job_id"]]
        kept = list((tmp_path / "store" / "runs" / result.run_id / "attempts").iterdir())
        assert [p.name for p in kept] == [f"{lost_row['job_id']}.1"]  # the lost attempt is kept, not counted
        with pytest.raises(UserError, match="complete: nothing to resume"):
            resume_bench(store, result.run_id)
    finally:
        for _, standin in phones:
            standin.stop()
            subprocess.run([ADB, "disconnect", standin.serial], env=adb_env, capture_output=True, timeout=30)


def test_resume_refuses_what_it_cannot_resume(tmp_path) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(UserError, match="no run"):
        resume_bench(store, "nope")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--resume", "x", "--suite", "s.toml"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "drop --suite" in proc.stderr
    assert Path(tmp_path / "store").exists() is False
