"""`harness compare` on stores built through the store API from seeded synthetic latencies."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from harness import compare
from harness.cli import main
from harness.store import Store
from tests.synthetic_runs import write_run

SLOW = "toy-cnn-wide/last-layer"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("results"))
    ids = {"base": write_run(store, seed=1), "same": write_run(store, seed=2),
           "slow": write_run(store, seed=3, slowdown={SLOW: 1.10})}
    return store, ids


def test_same_configuration_flags_nothing(store):
    st, ids = store
    result = compare.compare_runs(st, ids["base"], ids["same"])
    assert result.regressions == ()
    assert {v.mark for v in result.verdicts} <= {compare.UNCHANGED, compare.NOT_SIGNIFICANT}
    latency = [v for v in result.verdicts if v.metric == "latency_p50_ms"]
    assert len(latency) == 4  # 2 variants × 2 workloads
    assert all(v.ci_low < v.change < v.ci_high for v in latency)


def test_ten_percent_slower_variant_is_a_regression(store):
    st, ids = store
    result = compare.compare_runs(st, ids["base"], ids["slow"])
    flagged = {(v.key[1], v.key[2], v.metric) for v in result.regressions}
    assert (SLOW, "infer", "latency_p50_ms") in flagged
    assert (SLOW, "personalize", "latency_p50_ms") in flagged
    assert not any(key[0] != SLOW for key in flagged)
    p50 = next(v for v in result.regressions if v.metric == "latency_p50_ms" and v.key[2] == "infer")
    assert p50.change == pytest.approx(0.10, abs=0.03)
    assert p50.ci_low > 0


def test_reverse_direction_is_an_improvement(store):
    st, ids = store
    result = compare.compare_runs(st, ids["slow"], ids["base"])
    assert result.regressions == ()
    assert any(v.mark == compare.IMPROVEMENT for v in result.verdicts)


def test_cli_exit_codes_and_json(store, capsys):
    st, ids = store
    assert main(["compare", ids["base"], ids["same"], "--results", str(st.root)]) == 0
    assert "no regressions" in capsys.readouterr().out
    assert main(["compare", ids["base"], ids["slow"], "--results", str(st.root), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressions"] >= 2
    # the synthetic device draws more power when slower: energy per item rises ~16 %, latency 10 %
    assert main(["compare", ids["base"], ids["slow"], "--results", str(st.root), "--threshold", "15"]) == 1
    assert "energy_per_item_j" in capsys.readouterr().out
    assert main(["compare", ids["base"], ids["slow"], "--results", str(st.root), "--threshold", "25"]) == 0


def test_unknown_run_is_a_user_error(store, capsys):
    st, ids = store
    assert main(["compare", "nope", ids["base"], "--results", str(st.root)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_history_finds_the_step(tmp_path, capsys):
    st = Store(tmp_path)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ids = [write_run(st, seed=10 + i, n=60, repetitions=1, telemetry=False, created=start + dt.timedelta(hours=i),
                     slowdown={SLOW: 1.10} if i >= 8 else None) for i in range(12)]
    result = compare.history(st, "synthetic")
    slow = [e for e in result.regressions if e.metric == "latency_p50_ms"]
    assert {e.key[1] for e in slow} == {SLOW}
    assert all(e.steps[0][0] == ids[8] for e in slow)
    assert all(e.key[1] == SLOW for e in result.regressions)
    assert main(["compare", "--history", "--suite", "synthetic", "--results", str(st.root)]) == 1
    assert ids[8] in capsys.readouterr().out


def test_an_unstable_side_calls_no_change_and_says_so(tmp_path):
    """History says runs are steady, so the floor is low; the new run's repetitions swing (a deliberately
    noisy run): its 50 % slowdown is beyond the floor, yet the gate calls nothing and names the side."""
    st = Store(tmp_path)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    steady = [write_run(st, seed=s, n=60, telemetry=False, created=start + dt.timedelta(hours=s)) for s in range(6)]
    noisy = write_run(st, seed=99, n=60, telemetry=False, slowdown={SLOW: 1.5}, drift_sd=0.4,
                      created=start + dt.timedelta(hours=7))
    result = compare.compare_runs(st, steady[-1], noisy)
    p50 = next(v for v in result.verdicts if v.metric == "latency_p50_ms" and v.key[1:] == (SLOW, "infer"))
    assert p50.noise_source == "runs" and abs(p50.change) > p50.floor
    assert p50.mark == compare.NOT_SIGNIFICANT and p50.note.startswith("unstable new: varies")
    assert "unstable new" in compare.format_comparison(result)
    assert not [v for v in result.regressions if v.note]  # an unstable side never gates
    steady_pair = compare.compare_runs(st, steady[-2], steady[-1])
    assert not any(v.note for v in steady_pair.verdicts if v.metric.startswith("latency"))
