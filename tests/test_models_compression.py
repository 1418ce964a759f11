"""HAR compression: structured pruning, QAT fake-quant, mixed precision.

Fast: a tiny architecture with untrained (seeded) weights; building the real variants is `slow`.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.har import data
from models.har.global_model import Arch, build_model, layer_macs, layer_weights, load_weights

TINY = Arch(stem=8, blocks=(8, 12), feature=8)


@pytest.fixture(scope="module")
def tiny_weights():
    import keras

    keras.utils.set_random_seed(0)
    return layer_weights(build_model(TINY))


def _kill(weights, producer: str, channels, next_dw: str | None):
    """Zero `channels` of `producer` (kernel columns, bias) and the bias of the depthwise conv they feed:
    those channels then carry exactly 0 through the network."""
    kernel, bias = (w.copy() for w in weights[producer])
    kernel[:, channels] = 0.0
    bias[channels] = 0.0
    weights[producer] = [kernel, bias]
    if next_dw:
        dw_kernel, dw_bias = (w.copy() for w in weights[next_dw])
        dw_bias[channels] = 0.0
        weights[next_dw] = [dw_kernel, dw_bias]


def test_pruning_removes_the_lowest_l1_channels_and_keeps_the_function(tiny_weights):
    from models.pruning import prune

    weights = {k: list(v) for k, v in tiny_weights.items()}
    killed = {"stem": [0, 3, 5, 6], "b1_pw": [1, 2, 4, 7], "b2_pw": [0, 2, 4, 6, 8, 10], "feature": [1, 3, 5, 7]}
    for producer, next_dw in (("stem", "b1_dw"), ("b1_pw", "b2_dw"), ("b2_pw", None), ("feature", None)):
        _kill(weights, producer, killed[producer], next_dw)
    arch, pruned = prune(weights, 0.5, TINY)
    assert arch == Arch(stem=4, blocks=(4, 6), feature=4)
    for producer, channels in killed.items():  # the survivors are exactly the non-zero channels
        survivors = np.delete(weights[producer][0], channels, axis=1)
        assert np.abs(pruned[producer][0]).sum(axis=0).min() > 0
        assert pruned[producer][0].shape[1] == survivors.shape[1]
    original, small = build_model(TINY), build_model(arch)
    load_weights(original, weights)
    load_weights(small, pruned)
    x = data.subject_windows([1]).x[:8]
    np.testing.assert_allclose(small(x), original(x), atol=1e-5)
    assert small.count_params() < original.count_params() / 2
    assert sum(layer_macs(arch).values()) < sum(layer_macs(TINY).values()) / 2


def test_pruning_ratio_zero_is_identity_and_bad_ratio_is_refused(tiny_weights):
    from models.pruning import kept_channels, prune

    arch, pruned = prune(tiny_weights, 0.0, TINY)
    assert arch == TINY
    assert all(np.array_equal(a, b) for k in tiny_weights for a, b in zip(tiny_weights[k], pruned[k]))
    with pytest.raises(ValueError):
        kept_channels(np.ones(4), 1.0)


def test_pruned_model_exports_trains_and_reports_smaller_macs(tiny_weights):
    from models.har.variants import export_personalization
    from models.personalize import Session
    from models.pruning import prune

    arch, pruned = prune(tiny_weights, 0.5, TINY)
    blob, fields = export_personalization("bitfit", lr=0.01, arch=arch, weights=pruned)
    _full_blob, full_fields = export_personalization("bitfit", lr=0.01, arch=TINY, weights=tiny_weights)
    assert fields["macs_per_inference"] == sum(layer_macs(arch).values()) < full_fields["macs_per_inference"]
    assert fields["total_params"] < full_fields["total_params"] / 2
    assert fields["macs_per_train_step"] < full_fields["macs_per_train_step"]
    assert len(blob) < len(_full_blob)
    windows = data.subject_windows([1])
    session = Session(blob)
    before = session.get_weights()
    log = session.train(windows.x[:64], windows.y[:64], steps=3)
    assert log.steps == 3 and np.isfinite(log.losses).all()
    after = session.get_weights()
    assert sum(w.size for w in after.values()) == fields["trainable_params"]
    assert any(not np.array_equal(before[k], after[k]) for k in before)
