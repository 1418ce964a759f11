"""A missing companion app is found once, before any job, with the install command (not 12 failed jobs
ending in a Java stack trace)."""

from __future__ import annotations

import os

import pytest

from harness.bench import run_bench
from harness.errors import CompanionAppError
from harness.store import Store
from harness.suite import parse_suite
from tests.suites import infer, toy_suite
from tests.test_android_integration import ADB, adb_env, phone  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.adb, pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed")]


def test_a_missing_companion_is_one_error_before_any_job(phone, tmp_path, monkeypatch, adb_env):  # noqa: F811
    sandbox, standin = phone
    for key, value in adb_env.items():
        monkeypatch.setenv(key, value)
    sandbox.update_state(companion_installed=False)
    suite = parse_suite(toy_suite("no-app", infer(warmup=1, iterations=5, runner="companion"), repetitions=3,
                                  devices=[f"android:{standin.serial}"]))
    store = Store(tmp_path / "store")
    with pytest.raises(CompanionAppError, match=f"android:{standin.serial}: the companion app .*is not installed.*"
                                                f"adb -s {standin.serial} install -r .*app-debug.apk"):
        run_bench(suite, store)
    assert store.runs() == []
    sandbox.update_state(companion_installed=True)
    assert run_bench(suite, store).status == "complete"
