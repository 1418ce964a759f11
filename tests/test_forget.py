"""`harness forget`: nothing the harness staged for a person's personalization is left on the device, and
stored runs hold metrics and delta sizes, never the person's training examples (docs/privacy.md)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.bench import run_bench
from harness.cli import main
from harness.store import Store
from harness.suite import parse_suite
from models import tasks
from models.cache import cache_root
from tests.suites import infer, toy_suite, train
from tests.test_android_integration import adb_env, phone  # noqa: F401 (fixtures)


@pytest.fixture
def binary(monkeypatch):
    from tests.tasks import binary_toy

    monkeypatch.setitem(tasks.TASKS, "binary", binary_toy.TASK)
    return binary_toy


def _suite(device: str) -> str:
    return toy_suite("forget", infer(warmup=1, iterations=5), train(steps=4, batch_size=8, data="binary:3"),
                     model="binary-toy", devices=[device])


@pytest.mark.parametrize("device", ["host", "sim:android-low"])
def test_forget_leaves_nothing_staged_and_runs_hold_no_examples(binary, device, tmp_path, capsys):
    store = Store(tmp_path / "store")
    result = run_bench(parse_suite(_suite(device)), store)
    assert result.status == "complete"
    staged = sorted((cache_root() / "data" / "bench").rglob("*.npz"))
    assert staged, "the bench staged the person's data"
    examples = np.load(staged[0])["x"]
    # stored runs: metrics and the delta's size, never the examples themselves
    row = store.results(result.run_id).query("signature == 'train'").iloc[0]
    assert row["delta_bytes"] > 0 and row["accuracy_after"] is not None
    needle = examples[0].astype(examples.dtype).tobytes()[:32]
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), f"{path} holds a training example"
    assert main(["forget", "--device", device, "--variant", "binary-toy/last-layer"]) == 0
    assert "no personalization delta of binary-toy/last-layer" in capsys.readouterr().out
    assert all(p.exists() for p in staged)  # a variant's forget keeps the shared data
    assert main(["forget", "--device", device]) == 0
    said = capsys.readouterr().out
    assert all(str(p) in said for p in staged)
    assert not list((cache_root() / "data" / "bench").rglob("*.npz"))
    assert main(["forget", "--device", device]) == 0
    assert "no per-person training data staged" in capsys.readouterr().out


def test_an_unknown_phone_is_one_line(capsys):
    assert main(["forget", "--device", "android:none"]) in (1, 2)
    assert capsys.readouterr().err.startswith("harness:")


@pytest.mark.adb
def test_forget_on_a_phone_removes_the_staged_data_and_keeps_the_models(phone, toy_artifact, tmp_path, capsys):  # noqa: F811
    from harness.checksum import sha256_file
    from harness.devices.android import AndroidDevice
    from harness.devices.base import Artifact

    sandbox, standin = phone
    data = tmp_path / "person.npz"
    np.savez(data, x=np.ones((4, 3), np.float32), y=np.zeros(4, np.int64))
    device = AndroidDevice(standin.serial)
    staged = device.stage([Artifact("toy", toy_artifact.path, toy_artifact.sha256),
                           Artifact("person/train", data, sha256_file(data))])
    device.close()
    person, model = staged[sha256_file(data)], staged[toy_artifact.sha256]
    assert sandbox.host_path(person).exists()
    assert main(["forget", "--device", f"android:{standin.serial}"]) == 0
    said = capsys.readouterr().out
    assert f"removed {person}" in said and not sandbox.host_path(person).exists()
    assert sandbox.host_path(model).exists()  # models stay staged
    assert main(["forget", "--device", f"android:{standin.serial}"]) == 0
    assert "no per-person training data staged" in capsys.readouterr().out
