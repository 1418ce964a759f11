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

from harness.analysis.stats import bootstrap_ci
from models.har import data
from models.har import humanactivity as ha
from models.har.transfer_data import SHARED, PairedWindows, TransferSplit, transfer_split
from models.har.variants import STEPS
from models.personalize import Session
from models.zoo import build

__all__ = ["TransferRow", "TRANSFER_VARIANTS", "transfer_rows", "format_transfer"]

CONDITIONS = ("same-trial", "cross-placement")
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


def _tests(split: TransferSplit) -> dict[str, PairedWindows]:
    return {"same-trial": split.same_trial_test, "cross-placement": split.cross_placement_test}


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
        for condition, test in _tests(split).items():
            before[condition].append(_accuracies(session, model, test))
        session.train(model.inputs(split.personal), model.labels(split.personal.y), steps=steps, seed=split.subject)
        for condition, test in _tests(split).items():
            after[condition].append(_accuracies(session, model, test))
    m = artifact.manifest
    rows = []
    for condition in CONDITIONS:
        b, a = np.array(before[condition]), np.array(after[condition])
        gain = a[:, 0] - b[:, 0]
        rows.append(TransferRow(
            name, condition, len(splits), sum(len(_tests(s)[condition].y) for s in splits), float(b[:, 0].mean()),
            float(b[:, 1].mean()), float(a[:, 0].mean()), float(a[:, 1].mean()), float(gain.mean()),
            bootstrap_ci(gain, np.mean, resamples=10_000), int((gain > 0).sum()), m["trainable_params"],
            m["trainable_fraction"], m["macs_per_inference"]))
    return rows


def transfer_rows(subjects: Sequence[int] = data.HELD_OUT, steps: int = STEPS,
                  variants: Sequence[str] = TRANSFER_VARIANTS) -> tuple[TransferRow, ...]:
    splits = [transfer_split(s) for s in subjects]
    return tuple(row for name in variants for row in _variant_rows(name, splits, steps))


def format_transfer(rows: Sequence[TransferRow]) -> list[str]:
    """Markdown table lines of the transfer section."""
    lines = ["", "Transfer baseline (same windows; last layer trained; gain on the five shared classes):", "",
             "| variant | condition | test windows | zero-shot acc % (5 / 6 classes) | tuned acc % (5 / 6 classes) "
             "| paired gain (pts) [95% CI] | improved | trainable | MACs/inference |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r.variant} | {r.condition} | {r.test_windows} | {100 * r.zero_shot_shared:.1f} / {100 * r.zero_shot_all:.1f} "
            f"| {100 * r.tuned_shared:.1f} / {100 * r.tuned_all:.1f} | {100 * r.gain_mean:+.1f} "
            f"[{100 * r.gain_ci[0]:+.1f}, {100 * r.gain_ci[1]:+.1f}] | {r.improved}/{r.subjects} | "
            f"{r.trainable_params} ({100 * r.trainable_fraction:.1f}%) | {r.macs_per_inference} |")
    return lines
