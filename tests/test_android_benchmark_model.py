"""The app-less path: a user's LiteRT `benchmark_model` staged, run and parsed, through real adb and the stand-in.

The stand-in's fake `benchmark_model` is a script that records its arguments and prints real captured
output of the tool (tests/fixtures/benchmark_model_*.txt, each naming its source).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from harness.bench import run_bench
from harness.devices.android import AndroidDevice
from harness.devices.android.runner import benchmark_model_timings, parse_benchmark_model
from harness.errors import CompanionAppError, UserError
from harness.events import AggregateTimings
from harness.store import Store
from harness.suite import parse_suite
from tests.adbd_standin import MKSH
from tests.test_android_integration import ADB, adb_env, phone  # noqa: F401  (fixtures)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def needs_adb(test):
    """Marks one test as needing the Debian adb server (the suite checks here need none)."""
    skip = pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed (apt-get install adb)")
    return pytest.mark.adb(skip(test))


def _captured(name: str) -> str:
    """A fixture's captured text (after its source header and the ---- line)."""
    return (FIXTURES / name).read_text().split("\n----\n", 1)[1]


MOBILENET = "benchmark_model_mobilenet_v1_op_profiling.txt"
AM62X = "benchmark_model_ssd_mobilenet_v2_am62x_cpu.txt"


def _fake_tool(path: Path, fixture: str, exit_code: int = 0) -> Path:
    """A mksh script that plays benchmark_model: records its argv, checks --graph exists, logs to stderr."""
    path.write_text(
        f"#!{MKSH}\n"
        'printf "%s\\n" "$@" > "$STANDIN_ROOT/benchmark_model.args"\n'
        'for a in "$@"; do case $a in --graph=*) [ -f "${a#--graph=}" ] || { echo "no graph $a" >&2; exit 3; };; esac; done\n'
        f"cat >&2 <<'CAPTURED'\n{_captured(fixture)}CAPTURED\n"
        f"exit {exit_code}\n"
    )
    return path


def _job(path: str, **extra) -> dict:
    return {"protocol": 1, "job_id": "j1", "artifact": {"path": path, "sha256": "0" * 64}, "signature": "infer",
            "input": {"kind": "synthetic", "seed": 0}, "warmup": 3, "iterations": 50, "min_duration_s": 0.5,
            "threads": 4, "delegate": "cpu", **extra}


# ------------------------------------------------------------------ parser on real captured output


def test_parser_takes_the_measured_loop_not_the_op_profiler_line() -> None:
    result = benchmark_model_timings(_captured(MOBILENET))
    assert result == AggregateTimings(inference_avg_ms=2950.34, init_ms=17.187, first_inference_ms=3512.391,
                                      warmup_avg_ms=3512.39, count=50, min_ms=2727.568, max_ms=3189.954,
                                      std_ms=109.798)


def test_parser_reads_prefixed_lines_with_percentile_fields() -> None:
    out = parse_benchmark_model(_captured(AM62X))
    assert out["count"] == 50 and out["min_ms"] == pytest.approx(1238.588) and out["std_ms"] == pytest.approx(2.565)
    assert out["inference_avg_ms"] == pytest.approx(1240.27) and out["init_ms"] == pytest.approx(5.579)
    with pytest.raises(CompanionAppError, match="Inference timings"):
        benchmark_model_timings(_captured(AM62X).split("INFO: Inference timings")[0])


# ------------------------------------------------------------------ suite checks (no device needed)

BM_SUITE = """
name = "native"
repetitions = 1
devices = ["host"]
benchmark_model = "{binary}"
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "bm"
signature = "infer"
runner = "benchmark_model"
warmup = 2
iterations = 20
threads = 2
delegate = "cpu"
"""


def test_suite_checks_runner_and_binary(tmp_path) -> None:
    binary = _fake_tool(tmp_path / "benchmark_model", MOBILENET)
    (tmp_path / "suite.toml").write_text(BM_SUITE.format(binary="benchmark_model"))
    from harness.suite import load_suite

    suite = load_suite(tmp_path / "suite.toml")  # relative to the suite file, not the working directory
    assert suite.benchmark_model == binary and suite.workloads[0].runner == "benchmark_model"
    with pytest.raises(UserError, match="only infer"):
        parse_suite(BM_SUITE.format(binary=binary).replace('signature = "infer"', 'signature = "train"\nsteps = 2\n'
                                                           'batch_size = 4').replace("iterations = 20\n", ""))
    with pytest.raises(UserError, match="no delegate 'coreml-ane'"):
        parse_suite(BM_SUITE.format(binary=binary).replace('"cpu"', '"coreml-ane"'))
    with pytest.raises(UserError, match="names no binary"):
        parse_suite(BM_SUITE.format(binary=binary).replace(f'benchmark_model = "{binary}"', ""))
    with pytest.raises(UserError, match="no such file"):
        parse_suite(BM_SUITE.format(binary=tmp_path / "missing"))
    with pytest.raises(UserError, match="runner must be one of"):
        parse_suite(BM_SUITE.format(binary=binary).replace('runner = "benchmark_model"', 'runner = "app"'))
    with pytest.raises(UserError, match="no workload has runner"):
        parse_suite(BM_SUITE.format(binary=binary).replace('runner = "benchmark_model"', ""))


def test_host_refuses_benchmark_model_before_storing_anything(tmp_path, toy_artifact) -> None:
    binary = _fake_tool(tmp_path / "benchmark_model", MOBILENET)
    store = Store(tmp_path / "store")
    with pytest.raises(UserError, match="host cannot run LiteRT's benchmark_model"):
        run_bench(parse_suite(BM_SUITE.format(binary=binary)), store)
    assert store.runs() == []


# ------------------------------------------------------------------ through real adb and the stand-in


@needs_adb
def test_staged_once_and_run_with_every_argument_quoted(phone, tmp_path) -> None:  # noqa: F811
    sandbox, standin = phone
    device = AndroidDevice(standin.serial)
    binary = _fake_tool(tmp_path / "benchmark_model", MOBILENET)
    on_device = device.stage_benchmark_model(binary)
    assert sandbox.host_path(on_device).read_bytes() == binary.read_bytes()
    assert os.access(sandbox.host_path(on_device), os.X_OK)
    assert device.stage_benchmark_model(binary) == on_device and device.stager.pushed == [on_device]  # unchanged
    hostile = "/data/local/tmp/a b;touch pwned;'$(touch pwned)'`id`.tflite"
    sandbox.host_path(hostile).write_bytes(b"model")
    result = device.run_benchmark_model(on_device, _job(hostile))
    assert result.count == 50 and result.inference_avg_ms == pytest.approx(2950.34)
    args = (sandbox.root / "benchmark_model.args").read_text().replace(str(sandbox.root), "").splitlines()
    assert args == [f"--graph={hostile}", "--num_threads=4", "--num_runs=50", "--warmup_runs=3", "--min_secs=0.5",
                    "--warmup_min_secs=0", "--use_xnnpack=false"]
    assert not list(sandbox.root.rglob("pwned"))
    with pytest.raises(CompanionAppError, match="exited 3"):
        device.run_benchmark_model(on_device, _job("/data/local/tmp/none.tflite"))


@needs_adb
def test_bench_stores_aggregates_labelled_and_no_invented_events(phone, tmp_path, toy_artifact) -> None:  # noqa: F811
    sandbox, standin = phone
    (tmp_path / "my tools").mkdir()
    binary = _fake_tool(tmp_path / "my tools" / "benchmark_model", AM62X)
    suite = parse_suite(BM_SUITE.format(binary=binary).replace('["host"]', f'["android:{standin.serial}"]'))
    store = Store(tmp_path / "store")
    result = run_bench(suite, store)
    assert result.status == "complete"
    row = store.results("latest").iloc[0]
    assert row["runner"] == "benchmark_model" and row["status"] == "ok"
    assert (row["n"], row["mean_ms"], row["min_ms"], row["max_ms"]) == (50, 1240.27, 1238.588, 1252.566)
    assert row["stdev_ms"] == pytest.approx(2.565) and row["init_ms"] == pytest.approx(5.579)
    assert all(row[c] is None or math.isnan(row[c]) for c in ("p50_ms", "p90_ms", "p99_ms", "median_ci_low_ms"))
    assert store.events("latest").empty  # the tool gives no invoke events; none are made up
    assert row["energy_status"] == "unavailable" and "no measured invokes" in row["energy_reason"]
    args = (sandbox.root / "benchmark_model.args").read_text().splitlines()
    staged = Path(args[0].removeprefix("--graph="))
    assert staged.read_bytes() == toy_artifact.path.read_bytes()
    assert args[1:4] == ["--num_threads=2", "--num_runs=20", "--warmup_runs=2"]
