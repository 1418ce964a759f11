"""The native C runner (device_apps/native) against every conformance vector: the x86_64 build natively,
the aarch64 phone bundle under qemu-user, both from the same sources and the pinned LiteRT wheels."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.protocol import check_stream, job_from_vector, load_vectors

REPO = Path(__file__).resolve().parents[1]
VECTORS = load_vectors()
CPUINFO = Path(__file__).parent / "fixtures" / "aarch64_cpuinfo"


def load_build_module():
    """device_apps/native/build.py, the one build script (also run by `nox -s native`)."""
    spec = importlib.util.spec_from_file_location("native_build", REPO / "device_apps" / "native" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("native_build", module)
    spec.loader.exec_module(module)
    return sys.modules["native_build"]


@pytest.fixture(scope="session")
def native_build():
    return load_build_module()


@pytest.fixture(scope="session", params=["x86_64", "aarch64"])
def native_bundle(request, native_build, tmp_path_factory):
    """(arch, bundle dir, qemu prefix) for one build; built here if the cache lacks it (never fetched:
    `nox -s tests` fetches the aarch64 wheel first). HARNESS_REQUIRE_NATIVE=1 (set by nox) fails instead
    of skipping when a build cannot be made."""
    arch = request.param
    try:
        bundle = native_build.build(arch)
    except native_build.BuildError as exc:
        if os.environ.get("HARNESS_REQUIRE_NATIVE") == "1":
            pytest.fail(f"native {arch} build: {exc}")
        pytest.skip(f"native {arch} build: {exc}")
    prefix = native_build.qemu_prefix(tmp_path_factory.mktemp(f"qemu-{arch}"), CPUINFO) if arch == "aarch64" else None
    return arch, bundle, prefix


def run_native(native_build, bundle_info, job: dict, tmp_path: Path) -> tuple[list[dict], str]:
    arch, bundle, prefix = bundle_info
    path = tmp_path / f"{job.get('job_id', 'job')}.json"
    path.write_text(json.dumps(job))
    result = subprocess.run(native_build.runner_command(arch, bundle, str(path), prefix), capture_output=True,
                            text=True, timeout=120)
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_native_runner_conforms(vector, native_build, native_bundle, toy_artifact, tmp_path):
    job = job_from_vector(vector, str(toy_artifact.path), toy_artifact.sha256)
    events, stderr = run_native(native_build, native_bundle, job, tmp_path)
    assert check_stream(events, vector["expect"]) == [], stderr[-2000:]
    assert events[0]["runner"]["name"] == "native-litert"


def test_native_train_matches_the_reference_runner(native_build, native_bundle, toy_artifact, tmp_path):
    """Same job, same LiteRT: the losses, accuracies and delta digest equal the host runner's, bit for bit
    (XNNPACK on x86_64; the aarch64 kernels round differently, so there only the shape of the result)."""
    vector = next(v for v in VECTORS if v["name"] == "train-npz-eval")
    job = job_from_vector(vector, str(toy_artifact.path), toy_artifact.sha256)
    native, _ = run_native(native_build, native_bundle, job, tmp_path)
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(job))
    reference = [json.loads(line) for line in subprocess.run(
        [sys.executable, "-m", "harness.host_runner", str(path)], capture_output=True, text=True,
        check=True).stdout.splitlines()]
    assert [e["event"] for e in native] == [e["event"] for e in reference]
    mine, theirs = native[-1], reference[-1]
    assert mine["delta_bytes"] == theirs["delta_bytes"] and mine["eval_examples"] == theirs["eval_examples"]
    if native_bundle[0] == "x86_64":
        assert [e.get("loss") for e in native] == [e.get("loss") for e in reference]
        assert (mine["delta_sha256"], mine["accuracy_before"], mine["accuracy_after"]) == \
            (theirs["delta_sha256"], theirs["accuracy_before"], theirs["accuracy_after"])


@pytest.mark.parametrize("case", ["unreadable", "not-json", "wrong-signature", "npz-shape"])
def test_native_runner_names_each_failure(case, native_build, native_bundle, toy_artifact, tmp_path):
    """A clear `error` event for every failure, after `started`, and nothing else on stdout."""
    arch, bundle, prefix = native_bundle
    job = {"protocol": 1, "job_id": "f1", "artifact": {"path": str(toy_artifact.path), "sha256": toy_artifact.sha256},
           "signature": "infer", "input": {"kind": "synthetic", "seed": 0}, "warmup": 0, "iterations": 1,
           "threads": 1, "delegate": "xnnpack"}
    if case in ("unreadable", "not-json"):
        path = tmp_path / "job.json"
        if case == "not-json":
            path.write_text('{"protocol": 1,')
        result = subprocess.run(native_build.runner_command(arch, bundle, str(path), prefix), capture_output=True,
                                text=True, timeout=120)
        events = [json.loads(line) for line in result.stdout.splitlines()]
        want = "bad_job"
    elif case == "wrong-signature":
        job["delegate"] = "gpu"
        events, _ = run_native(native_build, native_bundle, job, tmp_path)
        want = "delegate_unavailable"
    else:
        import numpy as np

        data = tmp_path / "wrong.npz"
        np.savez(data, x=np.zeros((2, 64, 6), np.float32))
        job["input"] = {"kind": "npz", "path": str(data)}
        events, _ = run_native(native_build, native_bundle, job, tmp_path)
        want = "input_mismatch"
    # a model that loaded says so (`loaded`) before its input is found wrong
    assert [e["event"] for e in events] == ["started", *(["loaded"] if case == "npz-shape" else []), "error"]
    assert events[-1]["code"] == want, events[-1]
    if case == "npz-shape":
        assert "[2, 64, 6]" in events[-1]["message"] and "[-1, 128, 6]" in events[-1]["message"]
