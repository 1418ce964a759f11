"""The gate refuses what it cannot judge (exit 2, one line): a killed run with no jobs, a run still running,
runs of different suites or devices, a mistyped `--history --suite`; `--force` compares them anyway."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.store import Store
from tests.synthetic_runs import write_run


def _partial(store: Store, *, devices=(), suite="synthetic", jobs=1, status=None) -> str:
    writer = store.create_run({"suite": {"name": suite, "path": None, "source": ""},
                               "devices": [{"id": d} for d in devices]}, jobs_planned=2)
    for i in range(jobs):
        writer.write_job({"job_id": f"j{i:04d}", "order": i, "variant": "toy-cnn/last-layer", "workload": "infer",
                          "device_id": "sim:pixel7", "status": "ok", "signature": "infer"}, [], [])
    if status is not None:
        writer.finish(status)
    return writer.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("results"))
    ids = {"base": write_run(store, seed=1), "other-suite": write_run(store, seed=2, suite="other")}
    ids["killed"] = _partial(store, jobs=0, status="interrupted")
    ids["running"] = _partial(store)
    ids["elsewhere"] = _partial(store, devices=("android:R58M",), status="interrupted")
    return store, ids


@pytest.mark.parametrize(("new", "words", "forced"), [
    ("killed", "has no stored jobs (status interrupted): nothing to compare", 2),
    ("running", "is still running, or its process died (1/2 jobs)", 0),
    ("other-suite", "different suites ('synthetic' vs 'other')", 0),
    ("elsewhere", "is interrupted (1/2 jobs)", 0),
])
def test_the_gate_refuses_what_it_cannot_judge(store, capsys, new, words, forced):
    st, ids = store
    before = sorted(p.read_bytes() for p in st.root.rglob("*") if p.is_file())
    assert main(["compare", ids["base"], ids[new], "--results", str(st.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert main(["compare", ids["base"], ids[new], "--results", str(st.root), "--force"]) == forced
    assert sorted(p.read_bytes() for p in st.root.rglob("*") if p.is_file()) == before  # nothing stored changed


def test_runs_on_different_devices_are_refused(tmp_path, capsys):
    st = Store(tmp_path)
    a = _partial(st, devices=("host",), jobs=2, status="complete")
    b = _partial(st, devices=("android:R58M",), jobs=2, status="complete")
    assert main(["compare", a, b, "--results", str(tmp_path)]) == 2
    assert "different devices (host vs android:R58M)" in capsys.readouterr().err
    assert main(["compare", a, b, "--results", str(tmp_path), "--force"]) == 0


def test_a_mistyped_history_suite_is_refused(store, capsys):
    st, _ = store
    assert main(["compare", "--history", "--suite", "synthetc", "--results", str(st.root)]) == 2
    assert "no complete runs of suite 'synthetc'" in capsys.readouterr().err
    assert main(["compare", "--history", "--suite", "synthetic", "--results", str(st.root)]) == 0
