"""Compressed HAR variants over held-out subjects: accuracy against float32, size, MACs, and the
prune-then-personalize gain.

Per variant and condition: the global (not personalized) accuracy, mean ± SD over subjects, and its
difference from `har-cnn/float32` paired per subject with a bootstrap 95% CI. Pruned variants are
also personalized with their tuned recipe (manifest), like the other techniques.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from models.har import data
from models.har.paired import CONDITIONS, accuracies, subject_accuracies
from models.har.zoo import build
from models.paired import paired_gain, sd
from models.personalize import Recipe, Session, personalize

__all__ = ["CompressionRow", "PrunedPersonalizationRow", "CompressionReport", "COMPRESSED", "PRUNED",
           "evaluate_compression"]

REFERENCE = "har-cnn/float32"
COMPRESSED = ("har-cnn/int8-full", "har-cnn/int8-qat", "har-cnn/int8-mixed", "har-cnn/prune25",
              "har-cnn/prune50", "har-cnn/prune50-bitfit")
PRUNED = ("har-cnn/prune25", "har-cnn/prune50", "har-cnn/prune50-bitfit")


@dataclasses.dataclass(frozen=True)
class CompressionRow:
    variant: str
    condition: str
    quantization: str
    model_bytes: int  # the artifact (pruned variants also carry the train/get/set signatures)
    total_params: int
    macs_per_inference: int
    subjects: int
    mean: float  # global accuracy 0-1
    sd: float
    delta_mean: float  # accuracy 0-1, paired per subject: variant - float32
    delta_ci: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class PrunedPersonalizationRow:
    variant: str
    condition: str
    technique: str
    trainable_params: int
    steps: float  # mean optimizer steps taken
    global_mean: float
    personal_mean: float
    gain_mean: float  # paired, personalized - global
    gain_ci: tuple[float, float]
    improved: int
    subjects: int


@dataclasses.dataclass(frozen=True)
class CompressionReport:
    rows: tuple[CompressionRow, ...]
    personalization: tuple[PrunedPersonalizationRow, ...]


def _global(name: str, splits) -> dict[str, np.ndarray]:
    return subject_accuracies(Session(build(name).path.read_bytes()), splits)


def _personalized(name: str, splits) -> tuple[dict[str, np.ndarray], list[int]]:
    artifact = build(name)
    blob, recipe = artifact.path.read_bytes(), Recipe(**artifact.manifest["recipe"])
    after, steps = [], []
    for split in splits:
        session = Session(blob)
        outcome = personalize(session, split.personal.x, split.personal.y, split.personal.start, recipe,
                              seed=split.subject)
        after.append(accuracies(session, split))
        steps.append(outcome.steps)
    return {c: np.array([a[c] for a in after]) for c in CONDITIONS}, steps


def evaluate_compression(splits: Sequence[data.PersonalSplit], *, variants: Sequence[str] = COMPRESSED,
                         pruned: Sequence[str] = PRUNED) -> CompressionReport:
    reference = _global(REFERENCE, splits)
    rows = []
    for name in variants:
        m, acc = build(name).manifest, _global(name, splits)
        for c in CONDITIONS:
            delta_mean, delta_ci, _ = paired_gain(acc[c], reference[c])
            rows.append(CompressionRow(name, c, m["quantization"], m["model_bytes"], m["total_params"],
                                       m["macs_per_inference"], len(splits), float(acc[c].mean()), sd(acc[c]),
                                       delta_mean, delta_ci))
    personal_rows = []
    for name in pruned:
        m, before = build(name).manifest, _global(name, splits)
        after, steps = _personalized(name, splits)
        for c in CONDITIONS:
            personal_rows.append(PrunedPersonalizationRow(
                name, c, m["technique"], m["trainable_params"], float(np.mean(steps)), float(before[c].mean()),
                float(after[c].mean()), *paired_gain(after[c], before[c]), len(splits)))
    return CompressionReport(tuple(rows), tuple(personal_rows))
