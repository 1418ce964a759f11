"""The `harness` command end to end, as a user runs it (subprocess, real store, real LiteRT)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SMALL_SUITE = """
name = "small"
repetitions = 2
[[models]]
name = "toy-cnn"
variants = ["last-layer"]
[[workloads]]
name = "infer"
signature = "infer"
warmup = 2
iterations = 25
[[workloads]]
name = "personalize"
signature = "train"
warmup = 0
steps = 4
batch_size = 16
"""


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, toy_artifact):
    work = tmp_path_factory.mktemp("cli")
    (work / "small.toml").write_text(SMALL_SUITE)
    proc = harness("bench", "--suite", "small.toml", "--results", "store", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work, proc


def test_bench_stores_a_complete_run_and_dashboard(bench_run):
    work, proc = bench_run
    assert "complete, 4 jobs (0 failed)" in proc.stdout
    dashboard = work / proc.stdout.split("dashboard: ")[1].split()[0]
    assert dashboard.is_file() and dashboard.stat().st_size > 100_000  # plotly.js inlined
    runs = json.loads(harness("runs", "--json", "--results", "store", cwd=work).stdout)
    assert [r["status"] for r in runs] == ["complete"]


def test_show_json_gives_latency_statistics(bench_run):
    work, _ = bench_run
    shown = json.loads(harness("show", "latest", "--json", "--results", "store", cwd=work).stdout)
    assert shown["run"]["status"] == "complete"
    assert shown["run"]["devices"][0]["id"] == "host"
    jobs = shown["jobs"]
    assert len(jobs) == 4
    for job in jobs:
        assert job["status"] == "ok"
        assert 0 < job["min_ms"] <= job["median_ci_low_ms"] <= job["p50_ms"] <= job["median_ci_high_ms"]
        assert job["p50_ms"] <= job["p90_ms"] <= job["p99_ms"] <= job["max_ms"]
    infer = [j for j in jobs if j["workload"] == "infer"]
    train = [j for j in jobs if j["workload"] == "personalize"]
    assert all(j["n"] == 25 for j in infer)
    assert all(j["n"] == 4 and j["delta_bytes"] == 4 * (16 * 6 + 6) and j["final_loss"] > 0 for j in train)


def test_dashboard_command_over_two_runs(bench_run, tmp_path):
    work, _ = bench_run
    run_id = json.loads(harness("runs", "--json", "--results", "store", cwd=work).stdout)[0]["run_id"]
    out = tmp_path / "d.html"
    proc = harness("dashboard", run_id, run_id[:12], "-o", str(out), "--results", "store", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "fig-0" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["bench", "--suite", "missing.toml"], "cannot read suite"),
    (["show", "nope"], "no run 'nope'"),
    (["dashboard", "nope", "-o", "x.html"], "no run 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(bench_run, args, message):
    work, _ = bench_run
    before = sorted(p.relative_to(work) for p in (work / "store").rglob("*"))
    proc = harness(*args, "--results", "store", cwd=work)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert sorted(p.relative_to(work) for p in (work / "store").rglob("*")) == before


def test_unknown_variant_and_device(tmp_path, toy_artifact):
    (tmp_path / "s.toml").write_text(SMALL_SUITE.replace('"last-layer"', '"nope"'))
    proc = harness("bench", "--suite", "s.toml", "--results", "store", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown model variant 'toy-cnn/nope'" in proc.stderr
    (tmp_path / "t.toml").write_text(SMALL_SUITE)
    proc = harness("bench", "--suite", "t.toml", "--device", "tpu:0", "--results", "store", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown device 'tpu:0'" in proc.stderr


def test_devices_json_reports_missing_energy_with_reason(tmp_path):
    proc = harness("devices", "--json", cwd=tmp_path)
    host = json.loads(proc.stdout)[0]
    assert host["id"] == "host" and host["cores"] >= 1
    rapl = host["energy_sources"][0]
    assert rapl["name"] == "rapl"
    assert rapl["available"] or rapl["reason"]
