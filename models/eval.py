"""`harness models eval --task har`: personalization of each technique over held-out subjects.

Everything runs through the built TFLite artifacts with LiteRT. Per technique and condition
(same-trial; cross-placement = personalize on trial 1, test on trial 2): the global model's
accuracy, the accuracy after personalization, the paired gain with a bootstrap 95% CI and how
many subjects improved. Quantized variants are compared with float32 on the same test windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from harness.analysis.stats import bootstrap_ci
from models.har import data
from models.har.variants import STEPS
from models.memory import train_memory
from models.personalize import Session, accuracy
from models.zoo import build

__all__ = ["PersonalizationRow", "QuantizationRow", "Report", "evaluate", "CONDITIONS"]

CONDITIONS = ("same-trial", "cross-placement")
PERSONALIZATION_VARIANTS = ("har-cnn/last-layer", "har-cnn/bitfit", "har-cnn/adapter", "har-cnn/lora",
                            "har-cnn/full")
QUANTIZED_VARIANTS = ("har-cnn/float32", "har-cnn/float16", "har-cnn/int8-dynamic", "har-cnn/int8-full",
                      "har-cnn/int16x8")


@dataclasses.dataclass(frozen=True)
class PersonalizationRow:
    variant: str
    condition: str
    subjects: int
    global_mean: float  # accuracy 0-1
    global_sd: float
    personal_mean: float
    personal_sd: float
    gain_mean: float  # paired, personalized - global
    gain_ci: tuple[float, float]
    improved: int  # subjects whose accuracy rose (of `subjects`)
    trainable_params: int
    trainable_fraction: float
    delta_bytes: int
    step_ms_median: float
    train_peak_kb: int  # process peak RSS of a train step
    train_extra_kb: int  # ... minus the peak of inference on the same batch


@dataclasses.dataclass(frozen=True)
class QuantizationRow:
    variant: str
    quantization: str
    model_bytes: int
    accuracy: dict[str, float]  # condition -> mean accuracy over held-out subjects
    delta_vs_float32: dict[str, float]  # points (percent) vs float32


@dataclasses.dataclass(frozen=True)
class Report:
    subjects: tuple[int, ...]
    steps: int
    personalization: tuple[PersonalizationRow, ...]
    quantization: tuple[QuantizationRow, ...]


def _tests(split: data.PersonalSplit) -> dict[str, data.Windows]:
    return {"same-trial": split.same_trial_test, "cross-placement": split.cross_placement_test}


def _personalization_rows(name: str, splits, steps: int) -> list[PersonalizationRow]:
    artifact = build(name)
    blob = artifact.path.read_bytes()
    before = {c: [] for c in CONDITIONS}
    after = {c: [] for c in CONDITIONS}
    step_seconds: list[float] = []
    for split in splits:
        session = Session(blob)
        for condition, test in _tests(split).items():
            before[condition].append(accuracy(session, test.x, test.y))
        log = session.train(split.personal.x, split.personal.y, steps=steps, seed=split.subject)
        step_seconds += log.step_seconds[1:]  # the first invoke allocates the train subgraph
        for condition, test in _tests(split).items():
            after[condition].append(accuracy(session, test.x, test.y))
    memory = train_memory(artifact.path)
    m = artifact.manifest
    rows = []
    for condition in CONDITIONS:
        b, a = np.array(before[condition]), np.array(after[condition])
        gain = a - b
        rows.append(PersonalizationRow(
            name, condition, len(b), float(b.mean()), float(b.std(ddof=1)) if len(b) > 1 else 0.0,
            float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0, float(gain.mean()),
            bootstrap_ci(gain, np.mean, resamples=10_000), int((gain > 0).sum()), m["trainable_params"], m["trainable_fraction"],
            m["delta_bytes"], float(np.median(step_seconds) * 1000), memory.train_peak_kb, memory.train_extra_kb))
    return rows


def _quantization_rows(names: Sequence[str], splits) -> list[QuantizationRow]:
    accs: dict[str, dict[str, float]] = {}
    sizes, modes = {}, {}
    for name in names:
        artifact = build(name)
        session = Session(artifact.path.read_bytes())
        accs[name] = {c: float(np.mean([accuracy(session, _tests(s)[c].x, _tests(s)[c].y) for s in splits]))
                      for c in CONDITIONS}
        sizes[name], modes[name] = artifact.manifest["model_bytes"], artifact.manifest["quantization"]
    reference = accs.get("har-cnn/float32")
    return [QuantizationRow(n, modes[n], sizes[n], accs[n],
                            {c: 100 * (accs[n][c] - reference[c]) for c in CONDITIONS} if reference else {})
            for n in names]


def evaluate(*, subjects: Sequence[int] = data.HELD_OUT, steps: int = STEPS,
             personalization: Sequence[str] = PERSONALIZATION_VARIANTS,
             quantized: Sequence[str] = QUANTIZED_VARIANTS,
             progress: Callable[[str], None] = lambda _msg: None) -> Report:
    if any(s not in data.HELD_OUT for s in subjects):
        raise ValueError(f"evaluation subjects must be held-out subjects {data.HELD_OUT}, got {list(subjects)}")
    splits = [data.personal_split(s) for s in subjects]
    rows: list[PersonalizationRow] = []
    for name in personalization:
        progress(name)
        rows += _personalization_rows(name, splits, steps)
    progress("quantized variants")
    return Report(tuple(subjects), steps, tuple(rows), tuple(_quantization_rows(quantized, splits)))
