"""`harness models eval --task har`: personalization of each technique over held-out subjects.

Everything runs through the built TFLite artifacts with LiteRT. Per technique and condition
(same-trial; cross-placement = personalize on trial 1, test on trial 2): the global model's
accuracy, the accuracy after personalization by the artifact's tuned recipe (its manifest), the
paired gain with a bootstrap 95% CI and how many subjects improved; each technique's gain as a
fraction of full fine-tuning's; the few-step curve (1, 5, 20, 100 steps, no early stopping); the
Reptile init against the plain one after 1 and 5 steps. Quantized variants are compared with
float32 on the same test windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from models.artifact import BuiltArtifact
from models.har import data
from models.har.eval_compression import CompressionReport, evaluate_compression
from models.har.eval_early_exit import EarlyExitRow, early_exit_rows
from models.har.eval_transfer import TransferRow, transfer_rows
from models.har.paired import CONDITIONS, accuracies, subject_accuracies
from models.har.zoo import build
from models.memory import train_memory
from models.paired import paired_gain, sd
from models.personalize import Recipe, Session, personalize

__all__ = ["PersonalizationRow", "CurveRow", "FractionRow", "MetaRow", "QuantizationRow", "Report", "evaluate",
           "CONDITIONS", "CURVE_STEPS"]

PERSONALIZATION_VARIANTS = ("har-cnn/last-layer", "har-cnn/bitfit", "har-cnn/adapter", "har-cnn/lora",
                            "har-cnn/full")
META_VARIANTS = {"har-cnn/bitfit-reptile": "har-cnn/bitfit"}  # meta-learned init -> its plain-init variant
CURVE_STEPS = (1, 5, 20, 100)
PLATEAU_HOLDOUT = 0.25  # held-back share of the personalization windows for the plateau row of the curve
QUANTIZED_VARIANTS = ("har-cnn/float32", "har-cnn/float16", "har-cnn/int8-dynamic", "har-cnn/int8-full",
                      "har-cnn/int16x8")


@dataclasses.dataclass(frozen=True)
class PersonalizationRow:
    variant: str
    condition: str
    subjects: int
    global_mean: float  # accuracy 0-1
    global_sd: float
    learning_rate: float
    recipe: str  # the tuned host-side recipe, e.g. "early stop (hold 25%), <=100 steps"
    steps_used: tuple[float, int, int]  # optimizer steps taken: mean, min, max over subjects
    kept_step: float  # mean step of the weights kept (early stopping keeps the best held-back loss)
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
    train_tensor_kb: int  # sum of the train subgraph's tensor sizes (before arena sharing)


@dataclasses.dataclass(frozen=True)
class CurveRow:
    """Accuracy after a fixed number of steps (the tuned learning rate and batches, no early stopping),
    or (`plateau`) after early stopping on the held-back loss within 100 steps."""

    variant: str
    condition: str
    steps: int  # fixed budget; with `plateau`, the most steps any subject took
    plateau: bool
    steps_used: tuple[float, int, int]  # optimizer steps taken: mean, min, max over subjects
    mean: float  # accuracy 0-1
    gain_mean: float  # paired vs the global model
    gain_ci: tuple[float, float]
    improved: int
    subjects: int


@dataclasses.dataclass(frozen=True)
class FractionRow:
    """A technique's mean gain as a fraction of full fine-tuning's (same condition, tuned recipes)."""

    variant: str
    condition: str
    gain: float  # accuracy 0-1
    full_gain: float
    fraction: float | None  # gain / full_gain; None when full's gain is not positive (no meaningful ratio)
    trainable_fraction: float


@dataclasses.dataclass(frozen=True)
class MetaRow:
    """Meta-learned init minus plain init, paired over subjects, after `steps` steps."""

    variant: str
    baseline: str
    condition: str
    steps: int
    meta_mean: float
    plain_mean: float
    diff_mean: float
    diff_ci: tuple[float, float]
    better: int  # subjects where the meta init is more accurate
    subjects: int


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
    personalization: tuple[PersonalizationRow, ...]
    quantization: tuple[QuantizationRow, ...]
    curves: tuple[CurveRow, ...] = ()
    fractions: tuple[FractionRow, ...] = ()
    meta: tuple[MetaRow, ...] = ()
    compression: CompressionReport | None = None
    transfer: tuple[TransferRow, ...] = ()
    early_exit: tuple[EarlyExitRow, ...] = ()


def _recipe_text(r: Recipe) -> str:
    extras = "".join((", balanced" if r.balanced else "", ", augmented" if r.augment else ""))
    if r.holdout:
        return f"early stop (hold {100 * r.holdout:.0f}%), <={r.steps} steps{extras}"
    return f"{r.steps} steps{extras}"


def _curve(blob: bytes, split: data.PersonalSplit, recipe: Recipe, steps: Sequence[int]) -> dict[int, dict]:
    """Test accuracies after each of `steps` cumulative train steps on all personalization windows."""
    session, done, out = Session(blob), 0, {}
    for n in steps:
        session.train(split.personal.x, split.personal.y, steps=n - done, seed=split.subject * 1000 + done,
                      balanced=recipe.balanced, augment=recipe.augment)
        done, out[n] = n, accuracies(session, split)
    return out


@dataclasses.dataclass(frozen=True)
class _Measured:
    artifact: BuiltArtifact
    before: dict[str, np.ndarray]  # condition -> per-subject accuracy of the initial weights
    after: dict[str, np.ndarray]  # ... after the tuned recipe
    curve: dict[tuple[str, int], np.ndarray]  # (condition, steps) -> per-subject accuracy
    plateau: dict[str, np.ndarray]  # condition -> per-subject accuracy after plateau early stopping
    plateau_steps: np.ndarray
    steps_used: np.ndarray
    kept_step: np.ndarray
    step_seconds: list[float]


def _measure(name: str, splits) -> _Measured:
    artifact = build(name)
    blob = artifact.path.read_bytes()
    recipe = Recipe(**artifact.manifest["recipe"])
    early = dataclasses.replace(recipe, steps=max(CURVE_STEPS), holdout=recipe.holdout or PLATEAU_HOLDOUT)
    before, after, curve = {c: [] for c in CONDITIONS}, {c: [] for c in CONDITIONS}, {}
    plateau, plateau_steps = {c: [] for c in CONDITIONS}, []
    used, kept, step_seconds = [], [], []
    for split in splits:
        session = Session(blob)
        for c, acc in accuracies(session, split).items():
            before[c].append(acc)
        outcome = personalize(session, split.personal.x, split.personal.y, split.personal.start, recipe,
                              seed=split.subject)
        used.append(outcome.steps)
        kept.append(outcome.best_step)
        step_seconds += outcome.log.step_seconds[1:]  # the first invoke allocates the train subgraph
        for c, acc in accuracies(session, split).items():
            after[c].append(acc)
        for n, accs in _curve(blob, split, recipe, CURVE_STEPS).items():
            for c, acc in accs.items():
                curve.setdefault((c, n), []).append(acc)
        session = Session(blob)
        plateau_steps.append(personalize(session, split.personal.x, split.personal.y, split.personal.start, early,
                                         seed=split.subject).steps)
        for c, acc in accuracies(session, split).items():
            plateau[c].append(acc)
    arr = lambda d: {k: np.array(v) for k, v in d.items()}  # noqa: E731
    return _Measured(artifact, arr(before), arr(after), arr(curve), arr(plateau), np.array(plateau_steps),
                     np.array(used), np.array(kept), step_seconds)


def _personalization_rows(name: str, m: _Measured) -> list[PersonalizationRow]:
    artifact = m.artifact
    memory = train_memory(artifact.path)
    mf = artifact.manifest
    rows = []
    for condition in CONDITIONS:
        b, a = m.before[condition], m.after[condition]
        mean, ci, improved = paired_gain(a, b)
        rows.append(PersonalizationRow(
            name, condition, len(b), float(b.mean()), sd(b), mf["learning_rate"],
            _recipe_text(Recipe(**mf["recipe"])),
            (float(m.steps_used.mean()), int(m.steps_used.min()), int(m.steps_used.max())), float(m.kept_step.mean()),
            float(a.mean()), sd(a), mean, ci, improved, mf["trainable_params"], mf["trainable_fraction"],
            mf["delta_bytes"], float(np.median(m.step_seconds) * 1000) if m.step_seconds else float("nan"),
            memory.train_peak_kb, memory.train_extra_kb, memory.train_tensor_kb))
    return rows


def _curve_rows(name: str, m: _Measured) -> list[CurveRow]:
    rows = []
    used = (float(m.plateau_steps.mean()), int(m.plateau_steps.min()), int(m.plateau_steps.max()))
    for condition in CONDITIONS:
        for n in CURVE_STEPS:
            acc = m.curve[condition, n]
            rows.append(CurveRow(name, condition, n, False, (float(n), n, n), float(acc.mean()),
                                 *paired_gain(acc, m.before[condition]), len(acc)))
        acc = m.plateau[condition]
        rows.append(CurveRow(name, condition, used[2], True, used, float(acc.mean()),
                             *paired_gain(acc, m.before[condition]), len(acc)))
    return rows


def _fraction_rows(rows: Sequence[PersonalizationRow], reference: str = "har-cnn/full") -> list[FractionRow]:
    full = {r.condition: r.gain_mean for r in rows if r.variant == reference}
    return [FractionRow(r.variant, r.condition, r.gain_mean, full[r.condition],
                        r.gain_mean / full[r.condition] if full[r.condition] > 0 else None, r.trainable_fraction)
            for r in rows if r.variant != reference and r.condition in full]


def _meta_rows(measured: dict[str, _Measured]) -> list[MetaRow]:
    rows = []
    for meta, plain in META_VARIANTS.items():
        if meta not in measured or plain not in measured:
            continue
        for condition in CONDITIONS:
            for n in (1, 5):
                a, b = measured[meta].curve[condition, n], measured[plain].curve[condition, n]
                mean, ci, better = paired_gain(a, b)
                rows.append(MetaRow(meta, plain, condition, n, float(a.mean()), float(b.mean()), mean, ci, better,
                                    len(a)))
    return rows


def _quantization_rows(names: Sequence[str], splits) -> list[QuantizationRow]:
    accs: dict[str, dict[str, float]] = {}
    sizes, modes = {}, {}
    for name in names:
        artifact = build(name)
        session = Session(artifact.path.read_bytes())
        accs[name] = {c: float(a.mean()) for c, a in subject_accuracies(session, splits).items()}
        sizes[name], modes[name] = artifact.manifest["model_bytes"], artifact.manifest["quantization"]
    reference = accs.get("har-cnn/float32")
    return [QuantizationRow(n, modes[n], sizes[n], accs[n],
                            {c: 100 * (accs[n][c] - reference[c]) for c in CONDITIONS} if reference else {})
            for n in names]


def evaluate(*, subjects: Sequence[int] = data.HELD_OUT,
             personalization: Sequence[str] = PERSONALIZATION_VARIANTS + tuple(META_VARIANTS),
             quantized: Sequence[str] = QUANTIZED_VARIANTS,
             progress: Callable[[str], None] = lambda _msg: None) -> Report:
    if any(s not in data.HELD_OUT for s in subjects):
        raise ValueError(f"evaluation subjects must be held-out subjects {data.HELD_OUT}, got {list(subjects)}")
    splits = [data.personal_split(s) for s in subjects]
    measured: dict[str, _Measured] = {}
    rows: list[PersonalizationRow] = []
    curves: list[CurveRow] = []
    for name in personalization:
        progress(name)
        measured[name] = _measure(name, splits)
        rows += _personalization_rows(name, measured[name])
        curves += _curve_rows(name, measured[name])
    progress("quantized variants")
    quantization = tuple(_quantization_rows(quantized, splits))
    progress("compressed variants")
    compression = evaluate_compression(splits)
    progress("transfer baseline and early exit")
    return Report(tuple(subjects), tuple(rows), quantization, tuple(curves), tuple(_fraction_rows(rows)),
                  tuple(_meta_rows(measured)), compression, transfer_rows(subjects), early_exit_rows(subjects))
