"""The cross-validated HAR evaluation: folds, shifts, the TensorFlow train step against the artifact,
paired statistics with Holm, and a small end-to-end run (one fold, two seeds, two people, 1 epoch)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from models.har import data
from models.har.folds import DEPLOYED, FOLDS, fold_of


def test_folds_hold_every_person_out_once_and_train_only_on_the_others():
    held = [s for f in FOLDS for s in f.held_out]
    assert sorted(held) == list(range(1, 31))
    for f in FOLDS:
        assert len(f.held_out) == 10 and len(f.train) == 16 and len(f.tuning) == 4
        assert not set(f.held_out) & (set(f.train) | set(f.tuning)) and not set(f.train) & set(f.tuning)
        assert all(fold_of(s) is f for s in f.held_out)
    assert (DEPLOYED.train, DEPLOYED.tuning, DEPLOYED.held_out) == (data.POPULATION, data.TUNING, data.HELD_OUT)
    with pytest.raises(ValueError):
        fold_of(31)


def test_rotation_is_a_fixed_proper_rotation_per_person_applied_to_both_sensors():
    from models.har.shifts import rotate, rotation

    r = rotation(5)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(r, rotation(5))
    assert not np.allclose(r, rotation(6))
    x = data.personal_split(5).personal.x[:4]
    turned = rotate(x, r)
    for part in (slice(0, 3), slice(3, 6)):
        np.testing.assert_allclose(np.linalg.norm(turned[..., part], axis=-1), np.linalg.norm(x[..., part], axis=-1),
                                   rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def tiny():
    import keras

    from models.har.global_model import Arch, build_model, layer_weights

    keras.utils.set_random_seed(3)
    arch = Arch(stem=8, blocks=(8, 8, 8), feature=8)
    return arch, layer_weights(build_model(arch))


@pytest.mark.parametrize("technique", ["adapter"])
def test_tensorflow_train_step_matches_the_exported_artifact(tiny, technique):
    from models.har.global_model import layer_weights
    from models.har.trainer import Trainer
    from models.har.variants import export_personalization
    from models.personalize import Session

    arch, weights = tiny
    trainer = Trainer(technique, weights, arch=arch)
    blob, _ = export_personalization(technique, lr=0.01, arch=arch, weights=layer_weights(trainer.model))
    split = data.personal_split(21)
    ours, artifact = trainer.session(0.01), Session(blob)
    for session in (ours, artifact):
        session.train(split.personal.x, split.personal.y, steps=8, seed=4)
    a, b = ours.get_weights(), artifact.get_weights()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)
    np.testing.assert_allclose(ours.logits(split.same_trial_test.x), artifact.logits(split.same_trial_test.x),
                               atol=1e-4)
    fresh = trainer.session(0.01)  # a new session starts again at the global weights
    np.testing.assert_allclose(fresh.logits(split.personal.x), Session(blob).logits(split.personal.x), atol=1e-4)


def test_paired_stats_average_seeds_per_person_and_holm_adjust_the_table():
    from models.har.evaluate import _stats

    before = np.zeros((6, 2))
    up = before + np.array([[0.1, 0.1], [0.2, 0.2], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1], [0.0, 0.0]])
    flat = before.copy()
    s_up, s_flat = _stats([(up, before), (flat, before)])
    assert s_up.mean == pytest.approx(0.1) and s_up.seed_sd == pytest.approx(0.0)
    assert (s_up.improved, s_up.unchanged, s_up.worse) == (5, 1, 0)
    assert s_up.p == pytest.approx(4 / 64) and s_up.p_holm == pytest.approx(min(1, 2 * s_up.p))
    assert s_up.t_ci[0] < s_up.mean < s_up.t_ci[1]
    assert s_flat.p == 1.0 and not s_flat.significant and s_flat.unchanged == 6


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    from models.har import tuning
    from models.har.crossval import Config
    from models.har.evaluate import evaluate
    from models.personalize import Recipe

    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    mp.setattr(data, "windows", data.windows)  # the converted windows stay in memory
    mp.setattr(tuning, "LR_GRID", (0.01,))
    mp.setattr(tuning, "RECIPES", (Recipe(steps=0), Recipe(steps=10)))
    config = Config(folds=(0,), seeds=(0, 1), people=3, techniques=("last-layer", "full"), compression=False,
                    epochs=1)
    messages: list[str] = []
    report = evaluate(config, messages.append)
    again = evaluate(config)
    mp.undo()
    return report, again, messages


def test_small_evaluation_has_every_technique_and_shift_with_corrected_statistics(small_report):
    from models.har.shifts import SHIFTS

    report, again, messages = small_report
    assert report.people == (21, 22, 23) and report.cached_runs == 0 and again.cached_runs == 2
    assert {(r.technique, r.shift) for r in report.personalization} == {(t, s) for t in ("last-layer", "full")
                                                                        for s in SHIFTS}
    for r in report.personalization:
        assert r.gain.p <= r.gain.p_holm <= 1 and r.gain.improved + r.gain.unchanged + r.gain.worse == r.gain.people
        assert 0 <= r.global_mean <= 1 and 0 <= r.personal_mean <= 1
    assert {r.shift for r in report.personalization if r.gain.people == 1} == {"served badly"}
    assert [s.technique for s in report.shares] == ["last-layer"] * 4
    assert all(s.trainable_params == 390 and s.delta_bytes == 1560 for s in report.shares)
    assert len(report.targets) == 4 and report.exit_choice.thresholds
    assert [(c.technique, c.steps) for c in report.curve][:5] == [("last-layer", n) for n in (0, 1, 5, 20, 100)]
    assert [e.threshold for e in report.early_exit][:2] == [None, 0.0]
    assert any("fold0 seed 1" in m for m in messages)
    assert dataclasses.asdict(again)["personalization"] == dataclasses.asdict(report)["personalization"]


def test_documents_are_generated_from_the_json_alone(small_report, tmp_path):
    from harness.simulate.costs import accuracy_curve
    from models.har.docs import BEGIN, END, results_markdown, with_block

    as_json = json.loads(json.dumps(dataclasses.asdict(small_report[0])))
    text = results_markdown(as_json)
    assert "| full | rotated (simulated) |" in text and "Operating point" in text
    (tmp_path / "RESULTS.md").write_text(text)
    curve = accuracy_curve("har-cnn/full", path=tmp_path / "RESULTS.md")  # what harness simulate-day reads
    assert curve.steps == (0, 1, 5, 20, 100) and curve.accuracy_pct[0] == pytest.approx(
        100 * next(c.accuracy for c in small_report[0].curve if c.technique == "full" and c.steps == 0), abs=0.05)
    block = with_block(f"intro\n{BEGIN}\nstale 99 %\n{END}\nafter\n", as_json)
    assert "stale" not in block and block.startswith("intro\n") and block.endswith("after\n")
    with pytest.raises(ValueError):
        with_block("no markers", as_json)


def test_committed_documents_match_the_committed_evaluation_json():
    from models.har.docs import READMES, RESULTS, ROOT, results_markdown, with_block

    report = json.loads((ROOT / "models" / "har" / "eval.json").read_text())
    assert report["cached_runs"] == 0 and len(report["people"]) == 30 and len(report["config"]["seeds"]) >= 3
    assert RESULTS.read_text() == results_markdown(report)
    for path in READMES:
        assert path.read_text() == with_block(path.read_text(), report), f"{path.name} is stale: run models.har.docs"


def test_eval_rejects_bad_arguments_in_one_line(capsys):
    from harness.cli import main

    assert main(["models", "eval", "--task", "har", "--subjects", "11"]) == 2
    assert main(["models", "eval", "--task", "har", "--out", "x.json"]) == 2
    assert len([line for line in capsys.readouterr().err.splitlines() if line]) == 2
