"""Run-to-run variance in every summary: the coefficient of variation across repetitions, and a warning with
the likeliest cause when it is high (as pyperf warns); `compare` reads the same threshold."""

from __future__ import annotations

from rich.console import Console

from harness.analysis.stats import UNSTABLE_CV, repetition_cv
from harness.analysis.summary import instability_advice
from harness.cli import _summary


def _rows(p50s, **extra):
    return [{"variant": "m/a", "workload": "infer", "device_id": "host", "status": "ok", "p50_ms": v,
             "p90_ms": v, "p99_ms": v, "n": 300, **extra} for v in p50s]


def test_cv_of_repetitions():
    assert repetition_cv([1.0, 1.0, 1.0]) == 0.0
    assert repetition_cv([1.0]) is None and repetition_cv([]) is None
    assert abs(repetition_cv([1.0, 2.0, 3.0]) - 0.5) < 1e-12


def test_the_summary_shows_the_cv_and_warns_only_when_unstable():
    steady, shaky = _rows([1.00, 1.01, 0.99]), _rows([1.0, 1.6, 0.7])
    console = Console(width=160, record=True)
    table, warnings = _summary(steady)
    console.print(table)
    assert "1.0%" in console.export_text()
    assert warnings == []
    (warning,) = _summary(shaky)[1]
    assert warning.startswith("unstable: m/a · infer · host varies") and f"> {UNSTABLE_CV:.0%}" in warning
    assert "background load" in warning


def test_the_advice_names_the_likeliest_cause():
    assert "charging" in instability_advice(_rows([1, 2], energy_reason="device was charging: USB power"))
    assert "thermal status" in instability_advice(_rows([1], cooldown_end_status=0)
                                                  + _rows([2], cooldown_end_status=2))
    assert "measured items" in instability_advice(_rows([1, 2], n=12))
