"""Transfer baseline: the pretrained `humanactivity` model next to ours on the same HAPT moments.

Both models start from their pretrained/global weights (zero-shot), train their last layer with
the same protocol (`STEPS` train steps of 16 of the subject's personalization windows, through
LiteRT) and are tested on the same windows (`models.har.transfer_data`). Accuracy is reported on
the five classes both models know (laying excluded) and on all six (the package can only learn
laying by retraining its jogging output); the paired gain is on the five shared classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from models.har import data
from models.har import humanactivity as ha
from models.har.paired import CONDITIONS, condition_tests
from models.har.transfer_data import SHARED, PairedWindows, TransferSplit, transfer_split
from models.har.variants import STEPS
from models.har.zoo import build
from models.paired import paired_gain
from models.personalize import Session

__all__ = ["TransferRow", "TRANSFER_VARIANTS", "transfer_rows"]

TRANSFER_VARIANTS = ("humanactivity/last-layer", "har-cnn/last-layer")


@dataclasses.dataclass(frozen=True)
class TransferRow:
    variant: str
    condition: str
    subjects: int
    test_windows: int  # summed over subjects
    zero_shot_shared: float  # mean accuracy 0-1 over subjects, five shared classes, before training
    zero_shot_all: float  # ... all six classes (the package cannot answer laying)
    tuned_shared: float  # after `steps` last-layer train steps
    tuned_all: float
    gain_mean: float  # paired, tuned - zero-shot, five shared classes
    gain_ci: tuple[float, float]
    improved: int
    trainable_params: int
    trainable_fraction: float
    macs_per_inference: int


@dataclasses.dataclass(frozen=True)
class _Model:
    inputs: Callable[[PairedWindows], np.ndarray]
    labels: Callable[[np.ndarray], np.ndarray]  # our class ids -> the model's output ids


_MODELS = {
    "humanactivity/last-layer": _Model(lambda w: w.transfer, lambda y: ha.FROM_HAPT[y]),
    "har-cnn/last-layer": _Model(lambda w: w.ours.x, lambda y: y),
}


def _accuracies(session: Session, model: _Model, test: PairedWindows) -> tuple[float, float]:
    correct = session.logits(model.inputs(test)).argmax(axis=1) == model.labels(test.y)
    return float(correct[SHARED[test.y]].mean()), float(correct.mean())


def _variant_rows(name: str, splits: Sequence[TransferSplit], steps: int) -> list[TransferRow]:
    artifact, model = build(name), _MODELS[name]
    blob = artifact.path.read_bytes()
    before = {c: [] for c in CONDITIONS}
    after = {c: [] for c in CONDITIONS}
    for split in splits:
        session = Session(blob)
        for condition, test in condition_tests(split).items():
            before[condition].append(_accuracies(session, model, test))
        session.train(model.inputs(split.personal), model.labels(split.personal.y), steps=steps, seed=split.subject)
        for condition, test in condition_tests(split).items():
            after[condition].append(_accuracies(session, model, test))
    m = artifact.manifest
    rows = []
    for condition in CONDITIONS:
        b, a = np.array(before[condition]), np.array(after[condition])
        rows.append(TransferRow(
            name, condition, len(splits), sum(len(condition_tests(s)[condition].y) for s in splits),
            float(b[:, 0].mean()), float(b[:, 1].mean()), float(a[:, 0].mean()), float(a[:, 1].mean()),
            *paired_gain(a[:, 0], b[:, 0]), m["trainable_params"], m["trainable_fraction"], m["macs_per_inference"]))
    return rows


def transfer_rows(subjects: Sequence[int] = data.HELD_OUT, steps: int = STEPS,
                  variants: Sequence[str] = TRANSFER_VARIANTS) -> tuple[TransferRow, ...]:
    splits = [transfer_split(s) for s in subjects]
    return tuple(row for name in variants for row in _variant_rows(name, splits, steps))
