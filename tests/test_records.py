"""Stored records are typed and versioned: a run written by format 1 (tests/fixtures/store_v1) reads in
full through every later version, beside runs written now, and is never modified by reading."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from harness.cli import main
from harness.errors import ResultFormatError
from harness.records import FORMAT_VERSION, RESULT_SCHEMA, RunManifest, result_table, upgrade_results
from harness.store import Store
from tests.synthetic_runs import write_run

V1 = Path(__file__).resolve().parent / "fixtures" / "store_v1"
V1_RUN = "20261201T222356Z-3aec46"


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path) -> Store:
    shutil.copytree(V1, tmp_path / "results")
    return Store(tmp_path / "results")


def test_the_v1_run_reads_as_the_current_format(store):
    (manifest,) = store.runs()
    assert json.loads((store.runs_dir / V1_RUN / "manifest.json").read_text())["format_version"] == 1
    assert manifest["format_version"] == FORMAT_VERSION and manifest["status"] == "complete"
    assert manifest["conditions"] == {} and manifest["restore_failures"] == []
    assert manifest["devices"][0]["id"] == "host" and manifest["devices"][0]["capabilities"] is None
    results = store.results(V1_RUN)
    assert list(results.columns) == RESULT_SCHEMA.names and len(results) == 6
    assert set(results["status"]) == {"ok"} and results["p50_ms"].notna().all()
    assert results["accuracy_gain"].isna().all()  # an Arrow null column in v1, a typed float column now


def test_the_v1_run_reads_through_the_cli_duckdb_and_dashboards(store, tmp_path, capsys):
    before = _digests(store.runs_dir / V1_RUN)
    assert main(["runs", "--json", "--results", str(store.root)]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [V1_RUN]
    assert main(["show", "latest", "--json", "--results", str(store.root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["jobs"]) == 6 and shown["run"]["suite"]["name"] == "v1-fixture"
    new = write_run(store, seed=1, suite="v1-fixture")  # a run of today's format beside it
    con = store.connect()
    assert con.execute("select count(*) from results").fetchone()[0] == 6 + len(store.results(new))
    assert con.execute("select count(distinct stream) from events where run_id = ?", [V1_RUN]).fetchone()[0] == 8
    assert main(["dashboards", "-o", str(tmp_path / "dash"), "--results", str(store.root)]) == 0
    assert {p.name for p in (tmp_path / "dash").iterdir()} >= {"run.html", "compare.html", "history.html"}
    assert main(["export-trace", V1_RUN, "-o", str(tmp_path / "t.json"), "--results", str(store.root)]) == 0
    assert _digests(store.runs_dir / V1_RUN) == before  # reading never rewrites a stored run


def test_a_result_row_is_typed_by_the_schema():
    table = result_table({"run_id": "r", "job_id": "j0", "order": 0, "energy_joules": None})
    assert table.schema == RESULT_SCHEMA
    with pytest.raises(ResultFormatError, match="'latency'"):
        result_table({"run_id": "r", "latency": 1.0})
    v1 = pa.table({"job_id": ["j0"], "order": [0], "data": pa.nulls(1)})  # as format 1 inferred it
    upgraded = upgrade_results(v1, 1)
    assert upgraded.schema == RESULT_SCHEMA and upgraded.column("data").type == pa.string()


@pytest.mark.parametrize(("change", "words"), [
    ({"format_version": FORMAT_VERSION + 1}, "newer than this harness"),
    ({"format_version": None}, "no format_version"),
    ({"status": "exploded"}, "status must be one of"),
])
def test_a_bad_manifest_is_refused_with_a_reason(change, words):
    manifest = json.loads((V1 / "runs" / V1_RUN / "manifest.json").read_text())
    with pytest.raises(ResultFormatError, match=words):
        RunManifest.from_dict({**manifest, **change})
    missing = {k: v for k, v in manifest.items() if k != "jobs_done"}
    with pytest.raises(ResultFormatError, match="lacks jobs_done"):
        RunManifest.from_dict(missing)
