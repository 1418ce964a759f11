"""`harness simulate-day`: a twin's day under a policy, against greedy and no personalization; stored and paged."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

from harness.cli import main
from harness.dashboards.day import render_day
from harness.devices.sim.profiles import load_profile
from harness.errors import UserError
from harness.policy import POLICIES
from harness.simulate import load_stored_day, run_day, store_day
from harness.simulate.costs import KEYBOARD_RESULTS, AccuracyCurve, VariantCosts, accuracy_curve
from harness.simulate.day import day_names, load_day, simulate_day

COSTS = VariantCosts("har-cnn/adapter", train_step_host_s=0.0007, infer_host_s=0.0002, macs_per_train_step=3_000_000,
                     macs_per_inference=300_000, dtype="fp32", source="test")
CURVE = AccuracyCurve((0, 1, 5, 20, 100), (90.0, 90.5, 91.0, 92.0, 93.0), "test")


def test_shipped_days_cite_their_sources():
    assert {"workday", "hot-day", "shift-worker"} <= set(day_names())
    for name in day_names():
        day = load_day(name)
        assert day.sources and all(s.strip() for s in day.sources)


@pytest.mark.parametrize("trace", ["workday", "hot-day", "shift-worker"])
def test_default_policy_updates_only_when_allowed_and_costs_under_one_percent(trace):
    profile, day = load_profile("android-flagship"), load_day(trace)
    result = simulate_day(profile, POLICIES["default"], day, COSTS, CURVE)
    greedy = simulate_day(profile, POLICIES["greedy"], day, COSTS, CURVE)
    t = result.timeline
    for i, (hour, updating) in enumerate(zip(t["hour"], t["updating"])):
        if updating:
            assert day.at(hour - 0.5 / 60)[0], f"updated at {hour:.2f} h while not charging"
            assert i == 0 or t["status"][i - 1] < 2 and t["level"][i - 1] >= 30, f"updated at {hour:.2f} h"
    assert result.personalization_battery_pct < 1.0
    assert greedy.personalization_battery_j > result.personalization_battery_j
    assert result.steps_done + result.steps_skipped == greedy.steps_done + greedy.steps_skipped
    if result.steps_done:
        assert result.accuracy_end_pct > result.accuracy_start_pct and result.gain_per_j > 0


def test_a_hot_day_pauses_and_slows_the_app():
    profile = load_profile("android-low")
    policy = POLICIES["default"]
    hot = simulate_day(profile, policy, load_day("hot-day"), COSTS, CURVE)
    assert sum(v for k, v in hot.minutes_in_status.items() if k >= 1) > 0, hot.minutes_in_status
    assert np.max(hot.timeline["skin"]) > 35


def test_measured_curve_is_read_from_models_results():
    curve = accuracy_curve("har-cnn/adapter")
    assert curve.steps[0] == 0 and len(curve.steps) >= 3
    assert curve.at(0) == curve.accuracy_pct[0]


def test_a_keyboard_variant_reads_its_measured_keystroke_savings(tmp_path):
    data = json.loads(KEYBOARD_RESULTS.read_text())
    curve = accuracy_curve("keyboard-attn/lora")
    row = next(r for r in data["rows"] if r["variant"] == "keyboard-attn/lora")
    assert curve.at(0) == pytest.approx(100 * data["base"]["keystroke_savings"])
    assert curve.at(curve.steps[-1]) == pytest.approx(100 * row["personal"]["keystroke_savings"])
    assert "keystroke savings" in curve.source
    with pytest.raises(UserError, match="keyboard-attn/bias"):  # the n-gram takes no steps: no curve, variants named
        accuracy_curve("keyboard-attn/base + personal n-gram")


def test_a_day_is_stored_with_its_page(tmp_path):
    run = run_day("iphone-13", POLICIES["default"], "workday", COSTS)
    assert [r.policy for r in run.results] == ["default", "greedy", "none"]
    folder = store_day(tmp_path, run)
    data = load_stored_day(folder)
    assert data["manifest"]["label"] == "model:iphone-13" and len(data["results"]) == 3
    page = render_day(folder).read_text()
    assert "model:iphone-13" in page and "battery for personalization" in page


def test_two_days_in_one_second_are_both_kept(tmp_path, monkeypatch):
    """Ids are to the second: a second day of the same process and second gets its own id and folder, and a
    stored day is never written over."""
    second_now = time.gmtime()
    monkeypatch.setattr(time, "gmtime", lambda *_: second_now)
    first, second = (run_day("iphone-13", POLICIES[p], "workday", COSTS) for p in ("default", "greedy"))
    assert first.day_id != second.day_id
    folders = [store_day(tmp_path, first), store_day(tmp_path, second)]
    assert [load_stored_day(f)["manifest"]["policy"]["name"] for f in folders] == ["default", "greedy"]
    with pytest.raises(FileExistsError):
        store_day(tmp_path, dataclasses.replace(second, day_id=first.day_id))
    assert load_stored_day(folders[0])["manifest"]["policy"]["name"] == "default"


@pytest.mark.parametrize("args, named", [(["--variant", "toy-cnn/last-layer"], "toy-cnn/last-layer"),
                                         (["--trace", "no-such-day"], "no-such-day"),
                                         (["--profile", "no-such-phone"], "no-such-phone")])
def test_a_day_that_cannot_run_fails_before_anything_is_benched(tmp_path, capsys, args, named):
    """The store is empty, so the default variant would be benched first (minutes): the bad part is named first."""
    assert main(["simulate-day", "--results", str(tmp_path / "store"), *args]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "store" / "runs").exists()


def test_measuring_a_variant_shows_progress_and_keeps_native_logs_aside(tmp_path, capfd, monkeypatch):
    """A variant no stored run measured is benched on this host first: a progress line per job on stderr, the
    model build's TensorFlow/absl lines in a log file, not the terminal."""
    toy = lambda variant, *a, **k: CURVE if variant == "toy-cnn/last-layer" else accuracy_curve(variant, *a, **k)  # noqa: E731
    monkeypatch.setattr("harness.simulate.costs.accuracy_curve", toy)
    monkeypatch.setattr("harness.simulate.accuracy_curve", toy)
    assert main(["simulate-day", "--results", str(tmp_path / "store"), "--variant", "toy-cnn/last-layer"]) == 0
    captured = capfd.readouterr()
    assert "measuring it on this host first" in captured.out and "Simulated day 'workday'" in captured.out
    assert "toy-cnn/last-layer" in captured.err, captured.err  # the job's progress line
    assert "I0000" not in captured.err  # absl's lines (an uncached build's, the converter's) went to the log file
