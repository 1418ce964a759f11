"""`harness bench` killed outright (SIGKILL) at 20 random points: every time the store still reads in full
(runs, show, DuckDB, dashboards), no file of it is damaged, and the runs stored before are byte-identical."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harness.cli import main
from harness.store import Store
from tests.suites import infer, toy_suite, train

SUITE = toy_suite("killed", infer(warmup=1, iterations=30), train(steps=5), repetitions=3)
KILLS = 20


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _bench(suite: Path, results: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "bench", "--suite", str(suite), "--results",
                             str(results)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_the_store_survives_sigkill_at_random_points(tmp_path, toy_artifact):
    suite, results = tmp_path / "suite.toml", tmp_path / "results"
    suite.write_text(SUITE)
    started = time.monotonic()
    first = _bench(suite, results)
    assert first.wait(timeout=300) == 0
    full = time.monotonic() - started  # how long a whole run takes on this machine now (it is shared)
    earlier = {run["run_id"]: _digests(results / "runs" / run["run_id"]) for run in Store(results).runs()}
    rng = np.random.default_rng(20)
    for point in rng.uniform(0.0, 1.1 * full, KILLS):  # kills land everywhere in a run: start-up, jobs, the end
        proc = _bench(suite, results)
        time.sleep(float(point))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        store = Store(results)
        assert store.check() == {}
        runs = store.runs()
        assert {r["status"] for r in runs} <= {"complete", "interrupted"}  # a killed run never reads `running`
        for run in runs:
            assert len(store.results(run["run_id"])) == len(list((results / "runs" / run["run_id"]).glob(
                "jobs/*/result.parquet")))
        con = store.connect()
        assert con.execute("select count(*) from results").fetchone()[0] >= 6
        for run_id, files in earlier.items():
            assert _digests(results / "runs" / run_id) == files
    killed = [r for r in Store(results).runs() if r["status"] == "interrupted"]
    assert len({r["jobs_done"] for r in killed}) >= 3  # the kills landed before, between and during jobs
    assert main(["show", "latest", "--results", str(results)]) == 0
    assert main(["dashboards", "-o", str(tmp_path / "dash"), "--results", str(results)]) == 0
