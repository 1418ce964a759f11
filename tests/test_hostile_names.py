"""Names from a suite reach the terminal as text, never as rich markup: a suite and a workload named with
markup (`[/]`, `[red]`) run, and `runs` / `show` keep working for the whole store."""

from __future__ import annotations

from harness.cli import main
from tests.suites import infer, toy_suite

SUITE = toy_suite("nightly [/] [red]x", infer("in[/]fer [bold]", warmup=1, iterations=5))


def test_markup_in_names_is_printed_as_text(tmp_path, capsys, toy_artifact):
    (tmp_path / "suite.toml").write_text(SUITE)
    results = ["--results", str(tmp_path / "results")]
    assert main(["bench", "--suite", str(tmp_path / "suite.toml"), *results]) == 0
    out = capsys.readouterr().out
    assert "in[/]fer [bold]" in out
    assert main(["runs", *results]) == 0
    assert "nightly [/] [red]x" in capsys.readouterr().out
    assert main(["show", "latest", *results]) == 0
    shown = capsys.readouterr().out
    assert "nightly [/] [red]x" in shown and "in[/]fer [bold]" in shown
