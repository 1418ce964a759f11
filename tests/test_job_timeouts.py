"""A hung job is bounded: a workload's `timeout_s` and `bench --job-timeout` (the tighter wins) fail that job
as hung, with its cause, and the run goes on."""

from __future__ import annotations

import pytest

from harness.bench import run_bench
from harness.cli import main
from harness.errors import UserError
from harness.store import Store
from harness.suite import parse_suite
from tests.suites import infer, toy_suite

SUITE = toy_suite("hung", infer("slow", iterations=5, min_duration_s=30, timeout_s=3), infer("quick", iterations=5))


def test_a_job_past_its_workload_timeout_fails_and_the_run_goes_on(tmp_path, toy_artifact):
    result = run_bench(parse_suite(SUITE), Store(tmp_path))
    slow, quick = result.rows
    assert slow["status"] == "failed" and slow["error_code"] == "DeviceTimeout"
    assert "did not finish within 3 s" in slow["error_message"]
    assert quick["status"] == "ok" and result.status == "complete"


def test_the_command_line_timeout_bounds_every_job(tmp_path, capsys, toy_artifact):
    (tmp_path / "suite.toml").write_text(SUITE.replace("timeout_s = 3\n", ""))
    args = ["bench", "--suite", str(tmp_path / "suite.toml"), "--results", str(tmp_path / "r"), "--job-timeout", "2"]
    assert main(args) == 1  # one job failed
    rows = Store(tmp_path / "r").results("latest")
    assert list(rows["status"]) == ["failed", "ok"] and "within 2 s" in rows["error_message"].iloc[0]
    capsys.readouterr()
    assert main([*args[:-1], "0"]) == 2
    assert "--job-timeout must be a number of seconds > 0" in capsys.readouterr().err


def test_a_bad_workload_timeout_names_the_key():
    with pytest.raises(UserError, match="timeout_s must be > 0"):
        parse_suite(SUITE.replace("timeout_s = 3", "timeout_s = 0"))
