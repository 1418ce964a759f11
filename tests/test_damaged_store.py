"""No single bad file breaks the store: a corrupt Parquet file or an unreadable manifest is reported by name
and skipped by every reader; `harness store check` lists what is damaged and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import Store
from tests.synthetic_runs import write_run

V1 = Path(__file__).resolve().parent / "fixtures" / "store_v1"
V1_RUN = "20261201T222356Z-3aec46"


@pytest.fixture
def damaged(tmp_path):
    shutil.copytree(V1, tmp_path / "results")
    store = Store(tmp_path / "results")
    good, broken = write_run(store, seed=1, n=30), write_run(store, seed=2, n=30)
    bad_events = store.runs_dir / V1_RUN / "jobs" / "j0001" / "events.parquet"
    bad_events.write_bytes(b"PAR1 not really parquet")
    (store.runs_dir / broken / "manifest.json").write_text("{ half a manifest")
    return store, good, bad_events, store.runs_dir / broken / "manifest.json"


def test_readers_skip_a_damaged_file_and_say_so(damaged, tmp_path, capsys):
    store, good, bad_events, bad_manifest = damaged
    results = ["--results", str(store.root)]
    assert main(["runs", *results]) == 0
    captured = capsys.readouterr()
    assert good in captured.out and V1_RUN in captured.out
    assert f"skipped damaged {bad_manifest}" in captured.err
    assert main(["show", V1_RUN, *results]) == 0
    assert main(["export-trace", V1_RUN, "-o", str(tmp_path / "t.json"), *results]) == 0
    assert f"skipped damaged {bad_events}" in capsys.readouterr().err
    assert main(["compare", good, good, *results]) == 0
    assert main(["dashboards", "-o", str(tmp_path / "dash"), *results]) == 0
    fresh = Store(store.root)
    con = fresh.connect()
    assert con.execute("select count(distinct run_id) from events").fetchone()[0] == 2
    assert con.execute("select count(*) from events where run_id = ? and job_id = 'j0001'", [V1_RUN]).fetchone()[0] == 0
    assert set(fresh.damaged) == {str(bad_events), str(bad_manifest)}


def test_store_check_lists_what_is_damaged_and_why(damaged, capsys):
    store, _, bad_events, bad_manifest = damaged
    assert main(["store", "check", "--results", str(store.root)]) == 1
    out = capsys.readouterr().out
    assert f"damaged: {bad_events}: unreadable Parquet" in out
    assert f"damaged: {bad_manifest}: unreadable manifest" in out
    assert "2 damaged files; 2 readable runs" in out
    bad_events.unlink()
    bad_manifest.unlink()
    assert main(["store", "check", "--results", str(store.root)]) == 0
