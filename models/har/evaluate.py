"""`harness models eval --task har`: cross-validated personalization over all 30 HAPT people.

Three folds hold out 10 people each (`models.har.folds`); each fold and seed is one cached run of
`models.har.crossval`. Every comparison is paired per person: a person's difference is averaged over
the seeds, then the mean over people gets a Student t interval, a sign-flip p-value and counts of
people improved / unchanged / worse; the seed spread is the SD over seeds of the per-seed mean.
p-values are Holm-adjusted within each table (personalization: technique x shift; few-step curve;
compression; early exit) and only adjusted p-values decide "significant".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np

from models.har.crossval import FULL, PRUNE_RATIO, Config, fold_seed
from models.har.folds import FOLDS
from models.har.shifts import BADLY, BADLY_SHARE, OTHER, ROTATED, SAME, SHIFTS
from models.paired import holm, sign_flip_p, t_interval

__all__ = ["ALPHA", "TARGET_SHARE", "TARGET_TRAINABLE", "Stat", "PersonalRow", "ShareRow", "TargetRow",
           "CurveRow", "CompressionRow", "ExitRow", "ExitChoice", "Report", "evaluate"]

ALPHA = 0.05  # on Holm-adjusted p-values
TARGET_SHARE, TARGET_TRAINABLE = 0.8, 0.05  # >= 80% of full fine-tuning's gain at <= 5% trainable parameters
_TEST = {SAME: "same", OTHER: "other", BADLY: "same", ROTATED: "rotated"}  # shift -> test key of a run


@dataclasses.dataclass(frozen=True)
class Stat:
    """A paired difference over people (accuracy 0-1): a person's value is its mean over seeds."""

    people: int
    mean: float
    seed_sd: float  # SD over seeds of the per-seed mean over people
    t_ci: tuple[float, float]  # Student t 95% interval of the mean
    p: float  # sign-flip, two-sided
    p_holm: float  # Holm-adjusted within its table
    significant: bool  # p_holm < ALPHA
    improved: int
    unchanged: int
    worse: int


@dataclasses.dataclass(frozen=True)
class PersonalRow:
    technique: str
    shift: str
    learning_rates: tuple[float, ...]  # chosen per fold
    recipes: tuple[str, ...]  # chosen per fold
    global_mean: float  # accuracy 0-1, mean over people and seeds
    global_seed_sd: float
    personal_mean: float
    personal_seed_sd: float
    steps_mean: float  # optimizer steps taken, mean over people and seeds
    gain: Stat


@dataclasses.dataclass(frozen=True)
class ShareRow:
    technique: str
    shift: str
    gain: float  # accuracy 0-1
    full_gain: float  # the denominator: full fine-tuning's gain on the same shift
    full_significant: bool
    share: float | None  # gain / full_gain; None when full's gain is not positive
    trainable_params: int
    trainable_fraction: float
    delta_bytes: int
    train_macs_per_step: int
    steps_mean: float
    gain_per_gmac: float | None  # accuracy points per 10^9 training MACs (steps x MACs per step); None: no training
    meets_target: bool | None  # None when full's gain is not significant (no reference to share)


@dataclasses.dataclass(frozen=True)
class TargetRow:
    shift: str
    full_gain: float
    full_p_holm: float
    met_by: tuple[str, ...]  # techniques at >= TARGET_SHARE of full's gain with <= TARGET_TRAINABLE parameters
    verdict: str


@dataclasses.dataclass(frozen=True)
class CompressionRow:
    variant: str
    reference: str
    test: str  # same trial | other trial
    mean: float  # global accuracy 0-1 (no personalization)
    seed_sd: float
    reference_mean: float
    delta: Stat  # variant - reference
    params: int
    macs_per_inference: int
    model_bytes: float | None  # mean over seeds (TFLite variants only)


@dataclasses.dataclass(frozen=True)
class ExitRow:
    threshold: float | None  # None: the full path only
    exit_fraction: float  # 0-1, mean over people and seeds
    exit_seed_sd: float
    accuracy: float
    accuracy_seed_sd: float
    avg_macs: float  # per window at the mean exit fraction
    macs_fraction: float  # of the full path
    chosen_by: int  # fold-seeds whose tuning people chose this threshold


@dataclasses.dataclass(frozen=True)
class ExitChoice:
    rule: str
    thresholds: tuple[float, ...]  # chosen per fold and seed
    macs_fraction: float  # mean over people and seeds at the chosen thresholds
    exit_fraction: float
    accuracy: float
    full_accuracy: float
    delta: Stat  # cascade at the chosen threshold - full path


@dataclasses.dataclass(frozen=True)
class CurveRow:
    technique: str
    steps: int  # fixed optimizer steps, no early stopping; 0 = the global model
    learning_rates: tuple[float, ...]  # the tuned one, per fold
    accuracy: float  # on the other trial, mean over people and seeds
    seed_sd: float
    gain: Stat | None  # vs the global model (None for steps 0)


@dataclasses.dataclass(frozen=True)
class Report:
    config: dict
    folds: tuple[dict, ...]
    people: tuple[int, ...]
    alpha: float
    wall_seconds: float  # this command
    compute_seconds: float  # computing every fold and seed (the cost of a clean cache)
    cached_runs: int  # fold-seed runs read from the cache
    personalization: tuple[PersonalRow, ...]
    shares: tuple[ShareRow, ...]
    targets: tuple[TargetRow, ...]
    curve: tuple[CurveRow, ...] = ()
    compression: tuple[CompressionRow, ...] = ()
    early_exit: tuple[ExitRow, ...] = ()
    exit_choice: ExitChoice | None = None


def _matrix(runs: dict, seeds: Sequence[int], get: Callable[[dict], list]) -> np.ndarray:
    """(people, seeds) values: folds concatenated in order, one column per seed."""
    return np.array([np.concatenate([get(runs[f, s]) for f in sorted({f for f, _ in runs})]) for s in seeds],
                    float).T


def _stats(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Stat]:
    """Stat of each (after, before) pair of (people, seeds) matrices, Holm-adjusted together."""
    gains = [(a - b) for a, b in pairs]
    ps = [sign_flip_p(g.mean(axis=1)) for g in gains]
    out = []
    for g, p, adjusted in zip(gains, ps, holm(ps) if ps else []):
        person = g.mean(axis=1)
        per_seed = g.mean(axis=0)
        out.append(Stat(len(person), float(person.mean()), float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
                        t_interval(person), p, adjusted, adjusted < ALPHA, int((person > 1e-12).sum()),
                        int((np.abs(person) <= 1e-12).sum()), int((person < -1e-12).sum())))
    return out


def _mean_sd(m: np.ndarray) -> tuple[float, float]:
    per_seed = m.mean(axis=0)
    return float(m.mean()), float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0


def _recipe_text(r: dict) -> str:
    if not r["steps"]:
        return "no training"
    if r["holdout"]:
        return f"early stop (hold {100 * r['holdout']:.0f}%), <={r['steps']} steps"
    return f"{r['steps']} steps"


def _facts(technique: str) -> dict:
    from models.har.variants import manifest_fields, personalization_model

    model, arch, trainable = personalization_model(technique, weights={})
    return manifest_fields(model, arch, trainable, technique=technique, optimizer="sgd", lr=0.0)


def _personalization(runs: dict, config: Config) -> tuple[list[PersonalRow], list[ShareRow], list[TargetRow]]:
    seeds = config.seeds
    glob = {k: _matrix(runs, seeds, lambda r, k=k: r["global"][k]) for k in ("same", "other", "rotated", "personal")}
    order = np.argsort(glob["personal"].mean(axis=1), kind="stable")
    badly = np.zeros(len(order), bool)
    badly[order[:max(1, int(round(len(order) * BADLY_SHARE)))]] = True
    cells, pairs = [], []
    for tech in config.techniques:
        after = {k: _matrix(runs, seeds, lambda r, k=k, t=tech: r["techniques"][t][k])
                 for k in ("same", "other", "rotated", "steps", "steps_rotated")}
        for shift in SHIFTS:
            rows = badly if shift == BADLY else slice(None)
            a, b = after[_TEST[shift]][rows], glob[_TEST[shift]][rows]
            steps = after["steps_rotated" if shift == ROTATED else "steps"][rows]
            cells.append((tech, shift, a, b, steps))
            pairs.append((a, b))
    folds = sorted({f for f, _ in runs})
    rows = []
    for (tech, shift, a, b, steps), stat in zip(cells, _stats(pairs)):
        chosen = [runs[f, seeds[0]]["techniques"][tech] for f in folds]
        rows.append(PersonalRow(tech, shift, tuple(c["learning_rate"] for c in chosen),
                                tuple(_recipe_text(c["recipe"]) for c in chosen), *_mean_sd(b), *_mean_sd(a),
                                float(steps.mean()), stat))
    return rows, *_shares(rows, config)


def _shares(rows: list[PersonalRow], config: Config) -> tuple[list[ShareRow], list[TargetRow]]:
    full = {r.shift: r for r in rows if r.technique == "full"}
    shares, targets = [], []
    facts = {t: _facts(t) for t in config.techniques}
    for r in rows:
        if r.technique == "full":
            continue
        f, ref = facts[r.technique], full[r.shift]
        share = r.gain.mean / ref.gain.mean if ref.gain.mean > 0 else None
        trusted = ref.gain.significant and ref.gain.mean > 0
        training = f["macs_per_train_step"] * r.steps_mean / 1e9
        shares.append(ShareRow(
            r.technique, r.shift, r.gain.mean, ref.gain.mean, trusted, share, f["trainable_params"],
            f["trainable_fraction"], f["delta_bytes"], f["macs_per_train_step"], r.steps_mean,
            100 * r.gain.mean / training if training else None,
            (share is not None and share >= TARGET_SHARE and f["trainable_fraction"] <= TARGET_TRAINABLE)
            if trusted else None))
    for shift, ref in full.items():
        mine = [s for s in shares if s.shift == shift]
        met = tuple(s.technique for s in mine if s.meets_target)
        if not (ref.gain.significant and ref.gain.mean > 0):
            verdict = "not testable: full fine-tuning's gain is not significant"
        elif met:
            verdict = "met by " + ", ".join(met)
        else:
            best = max(mine, key=lambda s: s.share if s.trainable_fraction <= TARGET_TRAINABLE else -1.0)
            verdict = f"missed (best within {100 * TARGET_TRAINABLE:.0f}% parameters: {best.technique}, " \
                      f"{100 * best.share:.0f}%)"
        targets.append(TargetRow(shift, ref.gain.mean, ref.gain.p_holm, met, verdict))
    return shares, targets


def _compression(runs: dict, config: Config) -> list[CompressionRow]:
    from models.har.global_model import GLOBAL, Arch, layer_macs

    seeds = config.seeds
    any_run = next(iter(runs.values()))["compression"]
    pruned_arch = Arch(**{**any_run["prune50-ft"]["arch"], "blocks": tuple(any_run["prune50-ft"]["arch"]["blocks"])})
    params = {GLOBAL: _facts("full")["total_params"], pruned_arch: _pruned_params(pruned_arch)}
    cells, pairs = [], []
    for variant, reference, arch in (("int8", "float32", GLOBAL), ("int8-mixed", "float32", GLOBAL),
                                     ("int8-qat", "float32", GLOBAL), (f"prune{100 * PRUNE_RATIO:.0f}-ft", "dense-ft",
                                                                       pruned_arch)):
        for test, key in ((SAME, "same"), (OTHER, "other")):
            a = _matrix(runs, seeds, lambda r, v=variant, k=key: r["compression"][v][k])
            b = _matrix(runs, seeds, lambda r, k=key: r["global"][k]) if reference == "float32" else \
                _matrix(runs, seeds, lambda r, k=key: r["compression"]["dense-ft"][k])
            sizes = [runs[k]["compression"][variant].get("model_bytes") for k in runs]
            cells.append((variant, reference, test, a, b, params[arch], sum(layer_macs(arch).values()),
                          float(np.mean(sizes)) if None not in sizes else None))
            pairs.append((a, b))
    return [CompressionRow(v, ref, test, *_mean_sd(a), float(b.mean()), stat, p, macs, size)
            for (v, ref, test, a, b, p, macs, size), stat in zip(cells, _stats(pairs))]


def _pruned_params(arch) -> int:
    from models.har.global_model import build_model

    return int(sum(v.numpy().size for v in build_model(arch).trainable_variables))


def _early_exit(runs: dict, config: Config) -> tuple[list[ExitRow], ExitChoice]:
    from models.har.early_exit import THRESHOLDS, TOLERANCE, cascade_macs

    seeds, macs = config.seeds, cascade_macs()
    full = _matrix(runs, seeds, lambda r: r["early_exit"]["full"])
    chosen = [runs[k]["early_exit"]["chosen"] for k in sorted(runs)]
    rows = [ExitRow(None, 0.0, 0.0, *_mean_sd(full), float(macs.full), 1.0, 0)]
    for t in THRESHOLDS:
        exits = _matrix(runs, seeds, lambda r, t=t: r["early_exit"]["exit"][str(t)])
        acc = _matrix(runs, seeds, lambda r, t=t: r["early_exit"]["accuracy"][str(t)])
        rows.append(ExitRow(t, *_mean_sd(exits), *_mean_sd(acc), macs.average(float(exits.mean())),
                            macs.average(float(exits.mean())) / macs.full, chosen.count(t)))
    at = _matrix(runs, seeds, lambda r: r["early_exit"]["accuracy"][str(r["early_exit"]["chosen"])])
    exits = _matrix(runs, seeds, lambda r: r["early_exit"]["exit"][str(r["early_exit"]["chosen"])])
    rule = f"on each fold's tuning people: the lowest average MACs within {100 * TOLERANCE:.1f} pt of the full path"
    return rows, ExitChoice(rule, tuple(chosen), macs.average(float(exits.mean())) / macs.full, float(exits.mean()),
                            float(at.mean()), float(full.mean()), _stats([(at, full)])[0])


def _curve(curves: dict, config: Config) -> list[CurveRow]:
    from models.har.curve import CURVE_STEPS

    cells, pairs = [], []
    for tech in config.techniques:
        acc = {n: _matrix(curves, config.seeds, lambda r, t=tech, n=n: r["techniques"][t]["accuracy"][str(n)])
               for n in (0, *CURVE_STEPS)}
        rates = tuple(curves[f, config.seeds[0]]["techniques"][tech]["learning_rate"] for f in config.folds)
        cells += [(tech, n, rates, acc[n]) for n in (0, *CURVE_STEPS)]
        pairs += [(acc[n], acc[0]) for n in CURVE_STEPS]
    stats = iter(_stats(pairs))
    return [CurveRow(tech, n, rates, *_mean_sd(a), None if n == 0 else next(stats)) for tech, n, rates, a in cells]


def evaluate(config: Config = FULL, progress: Callable[[str], None] = lambda _msg: None) -> Report:
    """The cross-validated report under `config` (each fold and seed computed once, then cached)."""
    start = time.perf_counter()
    from models.har.curve import fold_seed_curve

    runs, curves, cached = {}, {}, 0
    for f in config.folds:
        for s in config.seeds:
            runs[f, s], hit = fold_seed(FOLDS[f], s, config, progress)
            cached += hit
            progress(f"fold{f} seed {s}: few-step curve")
            curves[f, s] = fold_seed_curve(FOLDS[f], s, config)
    progress("statistics")
    personalization, shares, targets = _personalization(runs, config)
    compression = _compression(runs, config) if config.compression else []
    exits, choice = _early_exit(runs, config) if config.early_exit else ([], None)
    people = tuple(p for f in config.folds for p in runs[f, config.seeds[0]]["people"])
    return Report(dataclasses.asdict(config), tuple(dataclasses.asdict(FOLDS[f]) for f in config.folds), people,
                  ALPHA, time.perf_counter() - start,
                  float(sum(r["seconds"] for r in (*runs.values(), *curves.values()))), cached,
                  tuple(personalization), tuple(shares), tuple(targets), tuple(_curve(curves, config)),
                  tuple(compression), tuple(exits), choice)
