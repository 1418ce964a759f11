"""Core ML export: ML program (float32, int8, palettized) and the updatable head, checked as specs.

Prediction, compilation and on-device updates need macOS/iOS; here the specs are built,
round-tripped and inspected. Fast: the global architecture with untrained weights.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from harness.errors import UserError
from models import coreml
from models.har import data
from models.har.global_model import build_model

SHAPE = (1, data.WINDOW, len(data.CHANNELS))


@pytest.fixture(scope="module")
def programs():
    import keras

    keras.utils.set_random_seed(0)
    model = build_model()
    base = coreml.mlprogram(model, SHAPE, {"logits": model.output, "feature": model.get_layer("head").input})
    return {mode: coreml.compress(base, mode) for mode in coreml.COMPRESSIONS}


def test_mlprogram_has_logits_and_feature_outputs(programs):
    info = coreml.describe(programs["float32"].get_spec())
    assert info["model_type"] == "mlProgram" and info["inputs"] == ["x"]
    assert set(info["outputs"]) == {"logits", "feature"} and info["compressed_weight_ops"] == {}
    shapes = {o.name: list(o.type.multiArrayType.shape) for o in programs["float32"].get_spec().description.output}
    assert shapes == {"logits": [1, data.CLASSES], "feature": [1, 64]}


def test_compressed_programs_hold_int8_and_palettized_weights_and_are_smaller(programs):
    ops = {m: coreml.describe(p.get_spec())["compressed_weight_ops"] for m, p in programs.items()}
    assert ops["int8"].get("constexpr_affine_dequantize", 0) >= 5
    assert ops["palettized"].get("constexpr_lut_to_dense", 0) >= 5
    size = {m: len(coreml.package_bytes(p)) for m, p in programs.items()}
    assert size["palettized"] < size["int8"] < 0.7 * size["float32"]
    assert coreml.package_bytes(programs["int8"]) == coreml.package_bytes(programs["int8"])  # deterministic


def test_updatable_head_spec_trains_only_its_inner_product_with_cross_entropy_and_sgd():
    rng = np.random.default_rng(0)
    layer = coreml.DenseLayer("head", rng.normal(size=(64, 6)).astype(np.float32), np.zeros(6, np.float32), False)
    spec = coreml.updatable_classifier([layer], input_name="feature", class_names=data.CLASS_NAMES,
                                       learning_rate=0.01, batch=16, epochs=10)
    blob = coreml.spec_bytes(spec)
    info = coreml.describe(spec)
    assert spec.isUpdatable and info["updatable_layers"] == ["head"]
    assert set(info["training_inputs"]) == {"feature", "label"}
    assert info["loss"] == ["categoricalCrossEntropyLossLayer"] and info["optimizer"] == "sgdOptimizer"
    sgd = spec.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer
    assert sgd.learningRate.defaultValue == pytest.approx(0.01) and sgd.miniBatchSize.defaultValue == 16
    weights = spec.neuralNetworkClassifier.layers[0].innerProduct.weights.floatValue
    np.testing.assert_allclose(np.reshape(weights, (6, 64)), layer.kernel.T)  # Core ML stores (out, in)
    assert len(blob) > 64 * 6 * 4


def test_zoo_unpacks_an_mlpackage_variant_and_reuses_it(programs, tmp_path):
    from models.artifact import build_variant
    from models.variant import Variant

    variant = Variant("test-cnn/coreml", "test", "test only",
                      lambda: (coreml.package_bytes(programs["int8"]), {"quantization": "int8"}),
                      filename="model.mlpackage")
    built = build_variant(variant, tmp_path)
    assert built.path.name == "model.mlpackage" and (built.path / "Manifest.json").is_file()
    assert built.manifest["model_bytes"] == len(coreml.package_bytes(programs["int8"]))
    assert build_variant(variant, tmp_path).sha256 == built.sha256


def test_bench_refuses_a_coreml_variant_on_a_non_ios_device():
    from harness.bench import _check_variants, check_devices
    from harness.devices.capabilities import RUNNERS, Capabilities
    from harness.devices.host import HostDevice
    from harness.suite import Workload

    formats = _check_variants(["har-cnn/coreml-int8", "har-cnn/float32"])  # the format each variant declares
    ios = types.SimpleNamespace(id="ios:00008030-001A", capabilities=Capabilities(("coreml",), (RUNNERS["companion"],)))
    devices, suite = {"host": HostDevice(), ios.id: ios}, types.SimpleNamespace(conditions=())

    def _check_formats(jobs):
        check_devices([types.SimpleNamespace(**vars(j), workload=Workload("w", "infer", delegate="cpu")) for j in jobs],
                      suite, devices, formats)

    job = types.SimpleNamespace(variant="har-cnn/coreml-int8", device="host")
    with pytest.raises(UserError, match="Core ML.*ios:"):
        _check_formats([job])
    _check_formats([types.SimpleNamespace(variant="har-cnn/coreml-int8", device="ios:00008030-001A")])
    _check_formats([types.SimpleNamespace(variant="har-cnn/float32", device="host")])
