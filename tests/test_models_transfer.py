"""Transfer baseline: the `humanactivity` CNN rebuilt in Keras 3 from its shipped files, HAPT made to fit it.

Fast: the rebuilt model against a numpy forward pass on real HAPT windows, the scaling, the label
map, resampling/units and the split. Building the fine-tuning artifact and the table are slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.har import data
from models.har import humanactivity as ha
from models.har import transfer_data as td


@pytest.fixture(scope="module")
def model():
    return ha.build_model()


@pytest.fixture(scope="module")
def real_windows() -> np.ndarray:
    x, valid = td.transfer_windows()
    ours = data.windows()
    pick = np.flatnonzero(valid & (ours.subject == 21))
    return x[pick[:: max(1, len(pick) // 8)][:8]]  # 8 windows across subject 21's activities


def test_rebuild_equals_numpy_forward_on_real_windows(model, real_windows):
    import keras

    keras_probs = keras.ops.sigmoid(model(real_windows)).numpy()
    np.testing.assert_allclose(keras_probs, ha.numpy_forward(real_windows), atol=1e-5)
    assert len(set(keras_probs.argmax(axis=1))) > 1  # real windows, not one saturated answer


def test_shipped_scaling_is_applied(model, real_windows):
    import keras

    mean, scale = ha.scale_parameters()
    np.testing.assert_allclose(mean, [0.662865900087, 7.25561550264, 0.411066442799], rtol=1e-6)
    np.testing.assert_allclose(scale, [6.84904619454, 6.7462071222, 4.75410322752], rtol=1e-6)
    unscaled = keras.Model(model.get_layer("conv1d_1").input, model.output)
    np.testing.assert_allclose(model(real_windows), unscaled((real_windows - mean) / scale), atol=1e-5)
    assert not np.allclose(model(real_windows), unscaled(real_windows), atol=1e-2)


def test_label_map_follows_the_package_state_order():
    mapped = {ours: ha.CLASS_NAMES[i] for ours, i in zip(data.CLASS_NAMES, ha.FROM_HAPT)}
    assert {k: v for k, v in mapped.items() if k != "laying"} == {
        "walking": "walking", "upstairs": "upstairs", "downstairs": "downstairs", "sitting": "sitting",
        "standing": "standing"}
    assert mapped["laying"] == "jogging"  # the one output HAPT never uses, retrained as laying
    assert sorted(ha.FROM_HAPT) == list(range(6))
    assert (ha.package_dir() / "humanActivity.py").read_text().count("JOGGING = 1") == 1


def test_transfer_windows_are_20hz_ms2_and_end_with_our_windows():
    x, valid = td.transfer_windows()
    ours = data.windows()
    assert x.shape == (len(ours), 90, 3) and valid.mean() > 0.95
    still = valid & (ours.y == data.CLASS_NAMES.index("laying"))
    gravity = np.linalg.norm(x[still].mean(axis=1), axis=1)
    assert 9.0 < float(np.median(gravity)) < 10.6  # m/s², not g
    # the last 2.56 s at 20 Hz (51 samples) average what our 128-sample window averages, × g
    i = np.flatnonzero(valid & (ours.subject == 22))[10]
    np.testing.assert_allclose(x[i, -51:].mean(axis=0), td.G * ours.x[i, :, :3].mean(axis=0), atol=0.3)


def test_transfer_split_keeps_test_spans_clear_of_personal_spans():
    split = td.transfer_split(21)
    personal_ends = split.personal.ours.start + data.WINDOW
    test_ends = split.same_trial_test.ours.start + data.WINDOW
    assert len(test_ends) and np.abs(test_ends[:, None] - personal_ends[None, :]).min() >= td.SPAN
    for part in (split.personal, split.same_trial_test, split.cross_placement_test):
        assert part.transfer.shape == (len(part.y), 90, 3)
    perm, signs = td.axis_map()
    assert sorted(perm) == [0, 1, 2] and set(signs) <= {1.0, -1.0}


@pytest.mark.slow
def test_transfer_artifact_manifest():
    from models.zoo import build

    m = build("humanactivity/last-layer").manifest
    assert m["trainable_params"] == 10_000 * 6 + 6 and m["total_params"] == 143_032
    assert m["macs_per_inference"] == sum(ha.layer_macs().values())
