"""HAR compression: structured pruning, QAT fake-quant, mixed precision.

Fast: a tiny architecture with untrained (seeded) weights; building the real variants is `slow`.
"""

from __future__ import annotations

import re

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
    from models.har.pruning import prune

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
    from models.har.pruning import prune
    from models.pruning import kept_channels

    arch, pruned = prune(tiny_weights, 0.0, TINY)
    assert arch == TINY
    assert all(np.array_equal(a, b) for k in tiny_weights for a, b in zip(tiny_weights[k], pruned[k]))
    with pytest.raises(ValueError):
        kept_channels(np.ones(4), 1.0)


def test_pruned_model_exports_trains_and_reports_smaller_macs(tiny_weights):
    from models.har.pruning import prune
    from models.har.variants import export_personalization
    from models.personalize import Session

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


def _op_output_dtypes(blob: bytes) -> list[tuple[str, str, np.dtype]]:
    """(op name, output tensor name, output dtype) of every op of a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=blob)
    tensors = interpreter.get_tensor_details()
    return [(op["op_name"], tensors[i]["name"], tensors[i]["dtype"]) for op in interpreter._get_ops_details()
            for i in op["outputs"]]


@pytest.fixture(scope="module")
def tiny_calibrated(tiny_weights):
    from models.mixed_precision import calibrated

    model = build_model(TINY)
    load_weights(model, tiny_weights)
    x = data.subject_windows([1]).x[:64]
    # real constants: the converter folds away a standardization by mean 0, scale 1
    model.get_layer("standardize").set_weights([x.mean(axis=(0, 1)), x.std(axis=(0, 1))])
    return model, calibrated(model, x)


def test_mixed_precision_keeps_the_chosen_layers_float_and_the_rest_int8(tiny_calibrated):
    from models.mixed_precision import quantize

    _model, calibrated_model = tiny_calibrated
    full = _op_output_dtypes(quantize(calibrated_model))
    mixed = _op_output_dtypes(quantize(calibrated_model, ["standardize", "b1_dw"]))
    dtypes = {name: dtype for _op, name, dtype in mixed}

    def of(layer, ops):
        return {dtype for op, name, dtype in ops
                if re.search(rf"/{layer}(_\d+)?/", name) and op not in ("QUANTIZE", "DEQUANTIZE")}

    assert of("standardize", full) == {np.int8} and of("b1_dw", full) == {np.int8}
    assert of("standardize", mixed) == {np.float32} and of("b1_dw", mixed) == {np.float32}
    for layer in ("stem", "b1_pw", "b2_dw", "b2_pw", "feature"):
        assert of(layer, mixed) == {np.int8}, layer
    assert np.int8 in set(dtypes.values()) and any(op == "DEQUANTIZE" for op, _n, _d in mixed)
    with pytest.raises(ValueError):
        quantize(calibrated_model, ["no_such_layer"])


def test_sensitivity_sweep_reports_every_swept_layer_and_chooses_by_the_rule(tiny_calibrated):
    from models.export import export_inference
    from models.mixed_precision import MIN_GAIN, sweep

    model, calibrated_model = tiny_calibrated
    result = sweep(calibrated_model, export_inference(model), data.subject_windows([17]).x[:64],
                   layers=("standardize", "stem"))
    assert set(result.rmse) == {"standardize", "stem"} and result.full_int8_rmse > 0
    assert result.chosen == tuple(k for k, v in result.rmse.items() if v <= (1 - MIN_GAIN) * result.full_int8_rmse)


def test_fake_quant_rounds_to_256_levels_and_tracks_ranges_while_training():
    import tensorflow as tf

    from models.qat import FakeQuant

    layer = FakeQuant()
    x = tf.linspace(-1.0, 3.0, 1000)
    y = layer(x)  # initial range [0, 1]: values clip to it
    assert float(tf.reduce_min(y)) == 0.0 and float(tf.reduce_max(y)) == pytest.approx(1.0, abs=1e-6)
    assert len(np.unique(y.numpy())) <= 256
    for _ in range(50):
        layer(x, training=True)
    assert float(layer.low) < -0.3 and float(layer.high) > 1.5


def test_qat_fine_tunes_the_shared_layers_and_converts_to_full_int8(tiny_weights):
    import keras

    from models.export import export_inference
    from models.personalize import Session
    from models.qat import qat_model
    from models.quantize import converter_options

    model = build_model(TINY)
    load_weights(model, tiny_weights)
    windows = data.subject_windows([1])
    qat = qat_model(model, windows.x[:64])
    assert sum(isinstance(layer, type(qat.layers[-1])) for layer in qat.layers) == len(model.layers)
    before = model.get_layer("stem").kernel.numpy().copy()
    qat.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(windows.x[:128], windows.y[:128], batch_size=64, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("stem").kernel.numpy(), before)  # shared, so the plain model learned
    blob = export_inference(model, converter_options=converter_options("int8", windows.x[:64]))
    ops = _op_output_dtypes(blob)
    assert {dtype for op, _n, dtype in ops if op == "FULLY_CONNECTED"} == {np.int8}
    assert [op for op, _n, _d in ops].count("QUANTIZE") == 1 and ops[-1][0] == "DEQUANTIZE"
    assert Session(blob).logits(windows.x[:4]).shape == (4, data.CLASSES)
