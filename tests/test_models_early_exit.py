"""Early-exit cascade: MAC accounting, the two-part TFLite signatures, thresholds on real HAPT windows.

Fast: a tiny untrained architecture with the exit (the cascade plumbing does not need trained
weights). The trained artifact and the held-out table are slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.har import data
from models.har import early_exit as ee
from models.har.global_model import Arch, layer_macs

TINY = Arch(stem=8, blocks=(8, 12), feature=8, early_exit=True)


@pytest.fixture(scope="module")
def tiny_blob() -> bytes:
    import keras

    keras.utils.set_random_seed(1)
    return ee.export_early_exit(TINY, weights={})


@pytest.fixture(scope="module")
def windows() -> data.Windows:
    return data.subject_windows([21])


def test_cascade_macs_split_the_full_path():
    macs = ee.cascade_macs()
    assert macs.early + macs.rest == macs.full + layer_macs(ee.ARCH)["exit1"]
    assert macs.early < macs.full / 2  # stem + block 1 are under half of the network
    assert macs.average(1.0) == macs.early and macs.average(0.0) == macs.early + macs.rest


def test_signatures_let_a_phone_run_the_cheap_part_first(tiny_blob, windows):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tiny_blob)
    assert set(interpreter.get_signature_list()) == {"infer_early", "infer_rest", "infer"}
    x = windows.x[:32]
    early = interpreter.get_signature_runner("infer_early")(x=x)
    assert early["feature"].shape == (32, data.WINDOW // 2, TINY.blocks[0])
    np.testing.assert_allclose(early["exit_probs"].sum(axis=1), 1.0, atol=1e-5)
    rest = interpreter.get_signature_runner("infer_rest")(feature=early["feature"])["logits"]
    np.testing.assert_allclose(rest, interpreter.get_signature_runner("infer")(x=x)["logits"], atol=1e-4)


def test_exit_fraction_falls_with_threshold_and_average_macs_lie_between(tiny_blob, windows):
    probs, logits = ee.cascade_outputs(tiny_blob, windows.x)
    thresholds = np.quantile(probs.max(axis=1), np.linspace(0.1, 0.9, 9))
    points = [ee.cascade_point(probs, logits, windows.y, t) for t in thresholds]
    fractions = [f for f, _ in points]
    assert all(a >= b for a, b in zip(fractions, fractions[1:])) and fractions[0] > fractions[-1]
    macs = ee.cascade_macs()
    for fraction in fractions:
        assert 0 < fraction < 1
        assert macs.early < macs.average(fraction) < macs.full
    assert ee.cascade_point(probs, logits, windows.y, 1.01) == (0.0, float(np.mean(logits.argmax(1) == windows.y)))


@pytest.mark.slow
def test_trained_early_exit_artifact_chooses_its_threshold_by_the_stated_rule():
    from models.zoo import build

    m = build("har-cnn/early-exit").manifest
    assert m["signatures"] == ["infer_early", "infer_rest", "infer"] and m["early_exit"]["threshold"] in ee.THRESHOLDS


def test_operating_point_is_the_lowest_macs_within_the_tolerance():
    y = np.array([0, 1, 2, 3])
    logits = np.eye(6)[y]  # the full path is right everywhere
    probs = np.array([[0.99, 0.01, 0, 0, 0, 0], [0.7, 0.3, 0, 0, 0, 0], [0, 0, 0.9, 0.1, 0, 0],
                      [0, 0, 0, 0.6, 0.4, 0]])  # the exit is wrong only on window 1 (confidence 0.7)
    chosen, table = ee.choose_threshold(probs, logits, y)
    assert chosen == min(t for t in ee.THRESHOLDS if t > 0.7)
    assert table[str(chosen)][1] == 1.0 and table["0.0"] == [1.0, 0.75]
