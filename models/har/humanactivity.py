"""The pretrained `humanactivity` 0.2.1 CNN (PyPI), rebuilt in Keras 3 from its shipped files.

The package imports Keras 2 and is never imported; its files are read from site-packages:
`har_model_json` (Keras 2.0.6 Sequential config), `har_model_save` (HDF5 weights) and
`har_scale_parameters.csv` (per-axis mean, scale of the accelerometer in m/s²).

    x (90 x 3 m/s², 20 Hz) -> (x - mean) / scale -> conv k60 (60, relu) -> maxpool 20/2
      -> conv k6 (6, relu) -> flatten (6) -> dense 10,000 (relu) -> dense 6 (sigmoid)

Its classes, in the order of `HumanActivityState` in `humanActivity.py` (WISDM's, alphabetical):
downstairs, jogging, sitting, standing, upstairs, walking. The rebuilt model outputs the last
layer's pre-activation (`logits`); the package applies a sigmoid, which keeps the argmax.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path

import numpy as np

__all__ = ["CLASS_NAMES", "WINDOW", "RATE_HZ", "FROM_HAPT", "package_dir", "scale_parameters", "weights",
           "build_model", "numpy_forward", "layer_macs"]

CLASS_NAMES = ("downstairs", "jogging", "sitting", "standing", "upstairs", "walking")
WINDOW = 90
RATE_HZ = 20
# HAPT class (models.har.data.CLASS_NAMES order) -> package output index. HAPT has no jogging and
# the package has no laying: laying is never right zero-shot, and fine-tuning retrains the
# jogging output as laying.
FROM_HAPT = np.array([5, 4, 0, 2, 3, 1])
_LAYERS = ("conv1d_1", "conv1d_2", "dense_1", "dense_2")


def package_dir() -> Path:
    """The installed package's directory, located without importing it (it imports Keras 2)."""
    spec = importlib.util.find_spec("humanactivity")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("install humanactivity==0.2.1 with --no-deps (the HAR transfer baseline)")
    return Path(spec.submodule_search_locations[0])


def scale_parameters() -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) per axis x, y, z from `har_scale_parameters.csv` (one `mean,scale` line per axis)."""
    rows = np.loadtxt(package_dir() / "har_scale_parameters.csv", delimiter=",", dtype=np.float64)
    return rows[:, 0].astype(np.float32), rows[:, 1].astype(np.float32)


@cache
def weights() -> dict[str, list[np.ndarray]]:
    """Layer name -> [kernel, bias] from the Keras 2 HDF5 file (`<layer>/<layer>/kernel:0`)."""
    import h5py

    with h5py.File(package_dir() / "har_model_save", "r") as f:
        return {name: [np.asarray(f[name][name][f"{w}:0"], np.float32) for w in ("kernel", "bias")]
                for name in _LAYERS}


def _config() -> list[dict]:
    return json.loads((package_dir() / "har_model_json").read_text())["config"]


def build_model(batch: int | None = None):
    """Keras 3 model from the shipped config, with the shipped weights and scaling baked in."""
    import keras

    from models.layers import Standardize

    layers = {c["config"]["name"]: c["config"] for c in _config()}
    conv1, pool, conv2 = layers["conv1d_1"], layers["max_pooling1d_1"], layers["conv1d_2"]
    inp = keras.Input((WINDOW, 3), batch_size=batch, name="x")
    x = Standardize(name="standardize")(inp)
    x = keras.layers.Conv1D(conv1["filters"], conv1["kernel_size"][0], activation="relu", name="conv1d_1")(x)
    x = keras.layers.MaxPooling1D(pool["pool_size"][0], pool["strides"][0], name="max_pooling1d_1")(x)
    x = keras.layers.Conv1D(conv2["filters"], conv2["kernel_size"][0], activation="relu", name="conv1d_2")(x)
    x = keras.layers.Flatten(name="flatten_1")(x)
    x = keras.layers.Dense(layers["dense_1"]["units"], activation="relu", name="dense_1")(x)
    logits = keras.layers.Dense(layers["dense_2"]["units"], name="dense_2")(x)  # sigmoid left out: logits
    model = keras.Model(inp, logits, name="humanactivity")
    model.get_layer("standardize").set_weights(list(scale_parameters()))
    for name, ws in weights().items():
        model.get_layer(name).set_weights(ws)
    return model


def numpy_forward(x: np.ndarray) -> np.ndarray:
    """Reference forward pass in plain numpy (float64): the package's sigmoid outputs for (n, 90, 3) m/s²."""
    mean, scale = scale_parameters()
    w = {k: [a.astype(np.float64) for a in v] for k, v in weights().items()}

    def conv(h, kernel, bias):  # 'valid' conv, kernel (k, in, out)
        cols = np.lib.stride_tricks.sliding_window_view(h, kernel.shape[0], axis=1)  # (n, T', in, k)
        return np.maximum(np.einsum("ntik,kio->nto", cols, kernel) + bias, 0)

    h = conv((x.astype(np.float64) - mean) / scale, *w["conv1d_1"])
    h = np.lib.stride_tricks.sliding_window_view(h, 20, axis=1)[:, ::2].max(axis=-1)
    h = conv(h, *w["conv1d_2"]).reshape(len(x), -1)
    h = np.maximum(h @ w["dense_1"][0] + w["dense_1"][1], 0)
    return 1 / (1 + np.exp(-(h @ w["dense_2"][0] + w["dense_2"][1])))


def layer_macs() -> dict[str, int]:
    """Multiply-accumulates per window of each weighted layer (analytic)."""
    (k1, c_in, c1), (k2, _, c2) = weights()["conv1d_1"][0].shape, weights()["conv1d_2"][0].shape
    t1 = WINDOW - k1 + 1
    t2 = (t1 - 20) // 2 + 1 - k2 + 1
    units = weights()["dense_1"][0].shape[1]
    return {"conv1d_1": t1 * k1 * c_in * c1, "conv1d_2": t2 * k2 * c1 * c2, "dense_1": t2 * c2 * units,
            "dense_2": units * len(CLASS_NAMES)}
