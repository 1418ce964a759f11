"""The native runner on Android end to end: `harness bench --device android:<serial>` through the real adb
server and the stand-in, which runs the staged aarch64 bundle under qemu-user (tests/adbd_standin.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import UserError
from harness.suite import parse_suite
from tests.test_android_integration import ADB, REPO, adb_env, phone  # noqa: F401  (fixtures)
from tests.test_native_runner import load_build_module

pytestmark = [pytest.mark.adb]

SUITE = """
name = "android-native"
repetitions = 1
baseline_s = 1.0
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "infer"
signature = "infer"
warmup = 2
iterations = 20
min_duration_s = 1.5
[[workloads]]
name = "train"
signature = "train"
warmup = 1
steps = 5
batch_size = 16
[[workloads]]
name = "personalize-s23"
signature = "train"
warmup = 0
steps = 8
batch_size = 16
data = "har:23"
"""


@pytest.fixture(scope="module")
def aarch64_bundle():
    build = load_build_module()
    try:
        return build.build("aarch64")
    except build.BuildError as exc:
        pytest.fail(f"the aarch64 native runner cannot be built here: {exc}")


def test_bench_with_the_native_runner_stores_events_and_energy(phone, adb_env, tmp_path, aarch64_bundle):  # noqa: F811
    import os

    if not os.path.exists(ADB):
        pytest.skip("Debian adb is not installed")
    sandbox, standin = phone
    # 1.2 A while the runner runs (450 mA idle); no companion app: every job must take the native runner
    sandbox.update_state(job_current_now="-1200000", companion_installed=False)
    (tmp_path / "suite.toml").write_text(SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "bench", "--suite", str(tmp_path / "suite.toml"),
         "--device", f"android:{standin.serial}", "--results", str(tmp_path / "store")],
        cwd=REPO, env=adb_env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "complete, 3 jobs (0 failed)" in proc.stdout
    from harness.store import Store

    store = Store(tmp_path / "store")
    rows = {r["workload"]: r for r in store.results("latest").to_dict("records")}
    events = store.events("latest")
    assert (events["event"] == "invoke").sum() >= 22 and (events["event"] == "train_step").sum() == 6 + 8
    assert rows["infer"]["energy_source"] == "fuel_gauge" and rows["infer"]["energy_status"] == "ok"
    assert rows["infer"]["energy_joules"] > 0
    personal = rows["personalize-s23"]
    assert personal["status"] == "ok" and personal["eval_examples"] > 100
    assert 0 <= personal["accuracy_before"] <= 1 and 0 <= personal["accuracy_after"] <= 1
    staged = list(sandbox.host_path("/data/local/tmp/phonebench/bin").glob("native-*/runner"))
    assert len(staged) == 1 and os.access(staged[0], os.X_OK)
    assert (staged[0].parent / "LICENSES" / "README").is_file()


def test_native_runner_refuses_other_delegates_in_one_line():
    suite = SUITE.replace('name = "infer"\nsignature = "infer"\n', 'name = "infer"\nsignature = "infer"\n'
                          'runner = "native"\ndelegate = "nnapi"\n')
    with pytest.raises(UserError) as info:
        parse_suite(suite)
    assert "runner 'native' has no delegate 'nnapi'" in str(info.value) and "\n" not in str(info.value)
