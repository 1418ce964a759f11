"""A bench stopped by SIGTERM or SIGHUP ends like Ctrl-C (run `interrupted`, what it measured kept, no temp
files); one killed outright reads as `interrupted`, not `running` forever; `latest` is the latest complete run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.store import Store
from tests.suites import infer, toy_suite

SUITE = toy_suite("long", infer(warmup=1, iterations=20, min_duration_s=0.3), repetitions=20)


def _bench(tmp_path: Path) -> tuple[subprocess.Popen, Store]:
    (tmp_path / "suite.toml").write_text(SUITE)
    store = Store(tmp_path / "results")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "bench", "--suite", str(tmp_path / "suite.toml"),
                             "--results", str(store.root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.monotonic() + 120
    while not (store.runs() and store.runs()[0]["jobs_done"] >= 1):  # stop it once it measured something
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1].decode()[-500:]
        time.sleep(0.1)
    return proc, store


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_the_run_as_interrupted(tmp_path, toy_artifact, signum):
    proc, store = _bench(tmp_path)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted; what was measured so far is stored" in err.decode()
    (run,) = store.runs()
    assert run["status"] == "interrupted" and 1 <= run["jobs_done"] < run["jobs_planned"]
    assert len(store.results(run["run_id"])) == run["jobs_done"]
    assert not list(store.root.rglob("*.tmp"))
    with pytest.raises(UserError, match="no complete run"):
        store.resolve("latest")


def test_a_killed_bench_reads_as_interrupted(tmp_path, toy_artifact):
    proc, store = _bench(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    (run,) = store.runs()
    assert run["status"] == "interrupted"
    raw = json.loads((store.runs_dir / run["run_id"] / "manifest.json").read_text())
    assert raw["status"] == "running" and raw["process"]["pid"] == proc.pid  # derived on reading, not rewritten


def test_latest_is_the_latest_complete_run(tmp_path):
    from tests.synthetic_runs import write_run

    store = Store(tmp_path)
    complete = write_run(store, seed=1, repetitions=1, n=20, telemetry=False)
    store.create_run({"suite": {"name": "synthetic", "path": None, "source": ""}}, jobs_planned=1)  # still running
    assert store.resolve("latest") == complete
