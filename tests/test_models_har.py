"""HAR zoo: HAPT loading and split, builtin-op layers, PEFT export round trip, quantization, eval maths.

Fast: small architectures with untrained weights, a few subjects and steps. The full table is
`nox -s models`; the end-to-end evaluation here is marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.har import data
from models.har.global_model import Arch, build_model, layer_macs, layer_weights

TINY = Arch(stem=8, blocks=(8, 12), feature=8)


def test_hapt_windows_have_six_classes_both_trials_and_all_subjects():
    w = data.windows()
    assert w.x.shape[1:] == (data.WINDOW, 6) and w.x.dtype == np.float32
    assert set(np.unique(w.y)) == set(range(6))
    assert set(np.unique(w.subject)) == set(range(1, 31))
    assert set(np.unique(w.trial)) == {1, 2, 3}
    assert set(np.unique(w.subject[w.trial == 3])) == {10}  # HAPT's one subject recorded three times
    # acc in g: the gravity axis averages near 1 g
    assert 0.5 < float(np.abs(w.x[..., :3].mean(axis=(0, 1))).max()) < 1.2


def test_split_subject_sets_are_disjoint_and_cover_everyone():
    groups = [set(data.POPULATION), set(data.TUNING), set(data.HELD_OUT)]
    assert sum(len(g) for g in groups) == 30 and set.union(*groups) == set(range(1, 31))
    assert not (groups[0] & groups[2]) and not (groups[1] & groups[2]) and not (groups[0] & groups[1])


@pytest.mark.parametrize("subject", [21, 30])
def test_personal_split_is_chronological_per_activity_and_never_overlaps(subject):
    split = data.personal_split(subject)
    assert set(np.unique(split.personal.trial)) == {1} and set(np.unique(split.same_trial_test.trial)) == {1}
    assert set(np.unique(split.cross_placement_test.trial)) == {2}
    for cls in np.unique(split.same_trial_test.y):
        personal_end = split.personal.start[split.personal.y == cls].max() + data.WINDOW
        assert split.same_trial_test.start[split.same_trial_test.y == cls].min() >= personal_end
    assert not set(split.personal.start) & set(split.same_trial_test.start)


def test_builtin_op_layers_match_keras_convolutions():
    import keras

    from models.layers import DepthwiseTemporalConv, TemporalConv

    x = np.random.default_rng(0).normal(size=(2, 16, 3)).astype(np.float32)
    ours = TemporalConv(4, 5)
    ours.build(x.shape)
    ref = keras.layers.Conv1D(4, 5, padding="same")
    ref.build(x.shape)
    ref.set_weights([ours.kernel.numpy().reshape(5, 3, 4), ours.bias.numpy()])
    np.testing.assert_allclose(ours(x), ref(x), atol=1e-5)

    dw = DepthwiseTemporalConv(5)
    dw.build(x.shape)
    dw.bias.assign(np.arange(3, dtype=np.float32))
    ref_dw = keras.layers.DepthwiseConv1D(5, padding="same")
    ref_dw.build(x.shape)
    ref_dw.set_weights([dw.kernel.numpy()[:, :, None], dw.bias.numpy()])
    np.testing.assert_allclose(dw(x), ref_dw(x), atol=1e-5)


def _tiny_weights():
    import keras

    keras.utils.set_random_seed(0)
    return layer_weights(build_model(TINY))


@pytest.fixture(scope="module")
def tiny_exports():
    from models.har.variants import export_personalization

    weights = _tiny_weights()
    return {t: export_personalization(t, lr=0.01, arch=TINY, weights=weights)
            for t in ("last-layer", "bitfit", "adapter", "lora", "full")}


def test_every_technique_exports_builtin_training_and_round_trips_weights(tiny_exports):
    from models.personalize import Session

    x = np.random.default_rng(1).normal(size=(40, data.WINDOW, 6)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 6, 40).astype(np.int32)
    for technique, (blob, fields) in tiny_exports.items():
        trained = Session(blob)
        log = trained.train(x, y, steps=5)
        assert log.steps == 5 and np.isfinite(log.losses).all()
        weights = trained.get_weights()
        assert sum(w.size for w in weights.values()) == fields["trainable_params"], technique
        fresh = Session(blob)
        assert not np.allclose(fresh.logits(x[:4]), trained.logits(x[:4])), technique
        fresh.set_weights(weights)
        np.testing.assert_array_equal(fresh.logits(x[:4]), trained.logits(x[:4]))


def test_zero_initialised_adapter_and_lora_start_at_the_global_function():
    from models.har.variants import personalization_model

    weights = _tiny_weights()
    x = np.random.default_rng(3).normal(size=(3, data.WINDOW, 6)).astype(np.float32)
    base = build_model(TINY)
    from models.har.global_model import load_weights

    load_weights(base, weights)
    for technique in ("adapter", "lora"):
        model, _arch, trainable = personalization_model(technique, TINY, weights)
        np.testing.assert_allclose(model(x), base(x), atol=1e-6)
        assert all(("adapter" in v.path or "lora" in v.path or "head" in v.path) for v in trainable)


def test_trainable_fractions_and_training_macs_order(tiny_exports):
    f = {t: fields for t, (_blob, fields) in tiny_exports.items()}
    assert f["full"]["trainable_fraction"] == 1.0
    assert f["last-layer"]["trainable_params"] < f["bitfit"]["trainable_params"] < f["full"]["trainable_params"]
    assert f["last-layer"]["macs_per_train_step"] < f["full"]["macs_per_train_step"]
    assert f["full"]["macs_per_inference"] == sum(layer_macs(TINY).values())
    assert f["bitfit"]["delta_bytes"] == 4 * f["bitfit"]["trainable_params"]


def test_full_int8_quantization_stays_close_to_float():
    import tensorflow as tf

    from models.export import export_inference
    from models.har.global_model import load_weights
    from models.personalize import Session
    from models.quantize import converter_options

    model = build_model(TINY)
    load_weights(model, _tiny_weights())
    x = data.subject_windows([1]).x[:64]
    f32 = Session(export_inference(model))
    int8_blob = export_inference(model, converter_options=converter_options("int8", x))
    int8 = Session(int8_blob)
    types = {d["dtype"] for d in int8.interpreter.get_tensor_details()}
    assert np.int8 in types
    agree = np.mean(f32.logits(x).argmax(1) == int8.logits(x).argmax(1))
    assert agree > 0.8
    with pytest.raises(ValueError):
        converter_options("int8", None)
    assert tf  # tensorflow imported for the converter


def test_train_memory_is_measured_in_a_fresh_process(tmp_path, tiny_exports):
    from models.memory import train_memory

    path = tmp_path / "m.tflite"
    path.write_bytes(tiny_exports["full"][0])
    memory = train_memory(path)
    assert memory.infer_peak_kb > 1000 and memory.train_peak_kb >= memory.infer_peak_kb
    assert memory.train_tensor_kb > 0


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_agreement():
    from harness.analysis.stats import bootstrap_ci

    gains = np.array([0.01, 0.03, 0.02, 0.05, 0.00, 0.04])
    lo, hi = bootstrap_ci(gains)
    assert lo <= gains.mean() <= hi and lo > -0.001
    lo2, hi2 = bootstrap_ci(np.full(6, 0.02))
    assert lo2 == pytest.approx(0.02) and hi2 == pytest.approx(0.02)


def test_cli_rejects_unknown_task_and_variant(capsys):
    from harness.cli import main

    assert main(["models", "eval", "--task", "nope"]) == 2
    assert main(["models", "build", "--task", "har", "--variant", "har-cnn/nope"]) == 2
    assert "unknown" in capsys.readouterr().err


def test_har_variants_are_registered_by_name():
    from models.zoo import variant_names

    names = variant_names("har")
    for expected in ("har-cnn/last-layer", "har-cnn/adapter", "har-cnn/bitfit", "har-cnn/lora", "har-cnn/full",
                     "har-cnn/int8-full", "har-cnn/float16"):
        assert expected in names
    assert "toy-cnn/last-layer" in variant_names("toy")
