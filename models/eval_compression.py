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

from harness.analysis.stats import bootstrap_ci
from models.har import data
from models.personalize import Recipe, Session, accuracy, personalize
from models.zoo import build

__all__ = ["CompressionRow", "PrunedPersonalizationRow", "CompressionReport", "COMPRESSED", "PRUNED",
           "evaluate_compression", "format_compression"]

REFERENCE = "har-cnn/float32"
COMPRESSED = ("har-cnn/int8-full", "har-cnn/int8-qat", "har-cnn/int8-mixed", "har-cnn/prune25",
              "har-cnn/prune50", "har-cnn/prune50-bitfit")
PRUNED = ("har-cnn/prune25", "har-cnn/prune50", "har-cnn/prune50-bitfit")
_CONDITIONS = ("same-trial", "cross-placement")


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


def _tests(split: data.PersonalSplit) -> dict[str, data.Windows]:
    return {"same-trial": split.same_trial_test, "cross-placement": split.cross_placement_test}


def _accuracies(session: Session, split: data.PersonalSplit) -> dict[str, float]:
    return {c: accuracy(session, t.x, t.y) for c, t in _tests(split).items()}


def _sd(a: np.ndarray) -> float:
    return float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _global(name: str, splits) -> dict[str, np.ndarray]:
    session = Session(build(name).path.read_bytes())
    per_subject = [_accuracies(session, s) for s in splits]
    return {c: np.array([a[c] for a in per_subject]) for c in _CONDITIONS}


def _personalized(name: str, splits) -> tuple[dict[str, np.ndarray], list[int]]:
    artifact = build(name)
    blob, recipe = artifact.path.read_bytes(), Recipe(**artifact.manifest["recipe"])
    after, steps = [], []
    for split in splits:
        session = Session(blob)
        outcome = personalize(session, split.personal.x, split.personal.y, split.personal.start, recipe,
                              seed=split.subject)
        after.append(_accuracies(session, split))
        steps.append(outcome.steps)
    return {c: np.array([a[c] for a in after]) for c in _CONDITIONS}, steps


def _ci(values: np.ndarray) -> tuple[float, float]:
    return bootstrap_ci(values, np.mean, resamples=10_000)


def evaluate_compression(splits: Sequence[data.PersonalSplit], *, variants: Sequence[str] = COMPRESSED,
                         pruned: Sequence[str] = PRUNED) -> CompressionReport:
    reference = _global(REFERENCE, splits)
    rows = []
    for name in variants:
        m, acc = build(name).manifest, _global(name, splits)
        for c in _CONDITIONS:
            delta = acc[c] - reference[c]
            rows.append(CompressionRow(name, c, m["quantization"], m["model_bytes"], m["total_params"],
                                       m["macs_per_inference"], len(splits), float(acc[c].mean()), _sd(acc[c]),
                                       float(delta.mean()), _ci(delta)))
    personal_rows = []
    for name in pruned:
        m, before = build(name).manifest, _global(name, splits)
        after, steps = _personalized(name, splits)
        for c in _CONDITIONS:
            gain = after[c] - before[c]
            personal_rows.append(PrunedPersonalizationRow(
                name, c, m["technique"], m["trainable_params"], float(np.mean(steps)), float(before[c].mean()),
                float(after[c].mean()), float(gain.mean()), _ci(gain), int((gain > 0).sum()), len(splits)))
    return CompressionReport(tuple(rows), tuple(personal_rows))


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def format_compression(report: CompressionReport) -> str:
    """Markdown tables: compressed variants vs float32, then prune-then-personalize gains."""
    lines = ["| variant | condition | quantization | model bytes | params | MACs/inference | global acc % "
             "| Δ vs float32 (pts) [95% CI] |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report.rows:
        lines.append(f"| {r.variant} | {r.condition} | {r.quantization} | {r.model_bytes} | {r.total_params} | "
                     f"{r.macs_per_inference} | {100 * r.mean:.1f} ± {100 * r.sd:.1f} | {_pts(r.delta_mean)} "
                     f"[{_pts(r.delta_ci[0])}, {_pts(r.delta_ci[1])}] |")
    lines += ["", "| variant | condition | personalizes | trainable | steps | global acc % | personalized acc % "
              "| paired gain (pts) [95% CI] | improved |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in report.personalization:
        lines.append(f"| {p.variant} | {p.condition} | {p.technique} | {p.trainable_params} | {p.steps:.0f} | "
                     f"{100 * p.global_mean:.1f} | {100 * p.personal_mean:.1f} | {_pts(p.gain_mean)} "
                     f"[{_pts(p.gain_ci[0])}, {_pts(p.gain_ci[1])}] | {p.improved}/{p.subjects} |")
    return "\n".join(lines)
