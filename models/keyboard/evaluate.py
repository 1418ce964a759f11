"""`harness models eval --task keyboard`: every technique on the same users of the held-out plays.

Everything neural runs through the exported TFLite artifacts with LiteRT (the calls a phone makes).
Per technique and personalization seed: each user's metrics (`metrics`) after personalizing on their
earlier speeches, paired against the base on the same test words; per-user values are averaged over
seeds for the paired statistics (`models.paired`: t interval, sign-flip p, Holm over every
technique x metric), and each seed's mean gain gives the spread. Training compute is analytic MACs
(the artifact's MACs per train step x steps taken). Then the continual-learning streams with the
degradation guard, on the first `CONTINUAL_USERS` users, for LoRA (the delta a phone would ship) and full
fine-tuning (the most parameters to forget with), with replay against no replay paired per user.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from models.keyboard import data, ngram
from models.keyboard.data import Config, User
from models.keyboard.delta import delta_bytes
from models.keyboard.learning import Guard, Stream, personalize, run_stream, top1
from models.keyboard.metrics import Prefixes, Scores, user_scores
from models.keyboard.variants import RECIPE, export_base, export_technique
from models.paired import PairedTest, holm, paired_test

__all__ = ["METRICS", "SEEDS", "STREAMS", "TECHNIQUES", "Artifact", "TechniqueRow", "StreamRow", "ReplayTest",
           "Report", "evaluate", "exported_artifacts"]

METRICS = ("top1", "top3", "keystroke_savings")
SEEDS = (0, 1, 2)
PROBE_EXAMPLES = 1000
GUARD_MARGIN = 0.02  # top-1 on the generic probe may fall at most 2 points below the base's
REPLAY_EXEMPLARS = 64
CONTINUAL_USERS = 12
CONTINUAL_TECHNIQUES = ("lora", "full")
TECHNIQUES = ("bias", "lora", "adapter", "full")  # gradient techniques, besides the n-gram cache
STREAMS = (Stream("no replay"), Stream("replay", replay=REPLAY_EXEMPLARS), Stream("update every 4 chunks", every=4))


@dataclasses.dataclass(frozen=True)
class Artifact:
    """What the evaluation needs of a built variant."""

    name: str
    blob: bytes
    macs_per_train_step: int
    trainable_params: int


@dataclasses.dataclass(frozen=True)
class TechniqueRow:
    technique: str
    variant: str
    users: int
    seeds: int
    personal: dict[str, float]  # metric -> mean over users (0-1)
    tests: dict[str, PairedTest]  # metric -> paired gain vs the base (per-user means over seeds)
    holm_p: dict[str, float]  # metric -> Holm-adjusted sign-flip p over every technique x metric
    seed_gains: dict[str, tuple[float, ...]]  # metric -> mean gain of each seed
    trainable_params: int
    delta_bytes: int  # the exported delta file (`delta.delta_bytes`) of the first user, seed 0
    steps: float  # mean optimizer steps per user (0: no gradient steps)
    train_gmacs: float  # mean training compute per user, GMACs (n-gram: 0, it only counts)
    step_ms: float  # median wall time of one LiteRT train step on this computer
    gain_per_gmac: float | None  # keystroke-savings gain (points) per GMAC of training; None without MACs


@dataclasses.dataclass(frozen=True)
class StreamRow:
    stream: str
    technique: str
    users: int
    top1: float  # personal test, mean over users, after the stream
    keystroke_savings: float
    probe_top1: float  # generic probe after the stream
    forgetting: float  # base probe top-1 minus the stream's (points of 0-1)
    steps: float  # mean optimizer steps per user over the stream
    rounds: float
    train_gmacs: float
    rollbacks: int  # updates the guard rolled back, over all users


@dataclasses.dataclass(frozen=True)
class ReplayTest:
    """Generic-probe top-1 with replay minus without, paired per user (positive: replay forgot less)."""

    technique: str
    probe: PairedTest
    keystroke_savings: PairedTest  # on the users' own test words


@dataclasses.dataclass(frozen=True)
class Report:
    config: str
    split: dict[str, list[str]]
    vocab: int
    users: tuple[str, ...]
    test_words: int
    oov: dict[str, float]  # train plays / tuning plays / evaluation users' test words
    base: dict[str, float]  # metric -> mean over users
    base_probe_top1: float
    probe_examples: int
    ngram_weights: tuple[float, float]
    rows: tuple[TechniqueRow, ...]
    streams: tuple[StreamRow, ...]
    replay: tuple[ReplayTest, ...]
    seeds: tuple[int, ...]


def _scores(logits: np.ndarray, user: User, prefixes: Prefixes) -> Scores:
    return user_scores(logits, user.test.y, user.test.letters, prefixes)


def _metric_arrays(scores: Sequence[Scores]) -> dict[str, np.ndarray]:
    return {m: np.array([getattr(s, m) for s in scores]) for m in METRICS}


@dataclasses.dataclass
class _Measured:
    technique: str
    variant: str
    per_seed: list[dict[str, np.ndarray]]  # seed -> metric -> per-user value
    trainable_params: int
    delta_bytes: int
    steps: float
    train_gmacs: float
    step_ms: float


def _gradient(artifact: Artifact, technique: str, users: Sequence[User], prefixes: Prefixes,
              seeds: Sequence[int], progress: Callable[[str], None]) -> _Measured:
    from models.personalize import Session

    per_seed, steps, seconds, delta = [], [], [], 0
    for seed in seeds:
        progress(f"{artifact.name}: seed {seed}, {len(users)} users")
        scores = []
        for i, user in enumerate(users):
            session = Session(artifact.blob)
            log = personalize(session, user.personal, RECIPE, seed=1000 * seed + i)
            steps.append(log.steps)
            seconds += log.step_seconds[1:]  # the first invoke allocates the train subgraph
            scores.append(_scores(session.logits(user.test.x), user, prefixes))
            if not delta:
                delta = len(delta_bytes(artifact.name, session.get_weights()))
        per_seed.append(_metric_arrays(scores))
    mean_steps = float(np.mean(steps))
    return _Measured(technique, artifact.name, per_seed, artifact.trainable_params, delta, mean_steps,
                     mean_steps * artifact.macs_per_train_step / 1e9, float(np.median(seconds) * 1000))


def _ngram(base_logits: Sequence[np.ndarray], users: Sequence[User], weights: tuple[float, float],
           prefixes: Prefixes, vocab: int) -> _Measured:
    scores, sizes, updates = [], [], []
    for logits, user in zip(base_logits, users):
        counts = ngram.count(user.personal, vocab)
        sizes.append(len(delta_bytes("keyboard-attn/ngram", counts.arrays())))
        updates.append(counts.updates)
        scores.append(_scores(ngram.mix(logits, user.test.x[:, -1], counts, *weights), user, prefixes))
    arrays = _metric_arrays(scores)
    return _Measured("ngram", "keyboard-attn/base + personal n-gram", [arrays], 0, sizes[0], 0.0, 0.0, 0.0)


def _rows(measured: Sequence[_Measured], base: dict[str, np.ndarray]) -> list[TechniqueRow]:
    tests = {(m.technique, metric): paired_test(np.mean([s[metric] for s in m.per_seed], axis=0), base[metric])
             for m in measured for metric in METRICS}
    adjusted = dict(zip(tests, holm([t.p for t in tests.values()])))
    rows = []
    for m in measured:
        gains = {metric: tuple(float((s[metric] - base[metric]).mean()) for s in m.per_seed) for metric in METRICS}
        ks_gain = 100 * tests[m.technique, "keystroke_savings"].mean
        rows.append(TechniqueRow(
            m.technique, m.variant, len(base["top1"]), len(m.per_seed),
            {metric: float(np.mean([s[metric] for s in m.per_seed])) for metric in METRICS},
            {metric: tests[m.technique, metric] for metric in METRICS},
            {metric: adjusted[m.technique, metric] for metric in METRICS}, gains, m.trainable_params,
            m.delta_bytes, m.steps, m.train_gmacs, m.step_ms, ks_gain / m.train_gmacs if m.train_gmacs else None))
    return rows


def _stream_row(name: str, technique: str, artifact: Artifact, base_probe: float, scores: Sequence[Scores],
                probes: Sequence[float], results: Sequence) -> StreamRow:
    steps = float(np.mean([r.steps for r in results])) if results else 0.0
    return StreamRow(name, technique, len(scores), float(np.mean([s.top1 for s in scores])),
                     float(np.mean([s.keystroke_savings for s in scores])), float(np.mean(probes)),
                     base_probe - float(np.mean(probes)), steps,
                     float(np.mean([r.rounds for r in results])) if results else 0.0,
                     steps * artifact.macs_per_train_step / 1e9, sum(r.rollbacks for r in results))


def _streams(technique: str, artifact: Artifact, users: Sequence[User], probe: data.Examples,
             replay_seed: data.Examples, prefixes: Prefixes,
             progress: Callable[[str], None]) -> tuple[list[StreamRow], ReplayTest, float]:
    """The rows of every stream (after a no-update row) and the paired replay-vs-no-replay test."""
    from models.personalize import Session

    fresh = Session(artifact.blob)
    base_probe = top1(fresh, probe)
    rows = [_stream_row("no updates", technique, artifact, base_probe,
                        [_scores(fresh.logits(u.test.x), u, prefixes) for u in users], [base_probe], [])]
    per_user = {}
    for stream in STREAMS:
        progress(f"continual learning, {technique}: {stream.name}, {len(users)} users")
        scores, probes, results = [], [], []
        for i, user in enumerate(users):
            session = Session(artifact.blob)
            guard = Guard(session, probe, GUARD_MARGIN)
            results.append(run_stream(session, user.personal, stream, replay_seed, guard, seed=i))
            scores.append(_scores(session.logits(user.test.x), user, prefixes))
            probes.append(top1(session, probe))
        per_user[stream.name] = (np.array(probes), np.array([s.keystroke_savings for s in scores]))
        rows.append(_stream_row(stream.name, technique, artifact, base_probe, scores, probes, results))
    (replay_probe, replay_ks), (plain_probe, plain_ks) = per_user["replay"], per_user["no replay"]
    return rows, ReplayTest(technique, paired_test(replay_probe, plain_probe), paired_test(replay_ks, plain_ks)), \
        base_probe


def _oov(examples: data.Examples) -> float:
    return float(np.mean(examples.y == data.UNK))


def evaluate(config: Config, *, users: int | None = None, artifacts: dict[str, Artifact] | None = None,
             seeds: Sequence[int] = SEEDS, progress: Callable[[str], None] = lambda _msg: None) -> Report:
    """The report over the first `users` evaluation users (None: all). `artifacts`: technique (and "base")
    -> Artifact; by default the zoo's cached builds (only for `data.FULL`)."""
    from models.personalize import Session

    artifacts = artifacts or _zoo_artifacts()
    vocab = data.vocabulary(config)
    split = data.split(config)
    prefixes = Prefixes(vocab)
    people = data.users(split.evaluation, config, vocab)[:users]
    if not people:
        raise ValueError("no evaluation users")
    base = Session(artifacts["base"].blob)
    progress(f"base on {len(people)} users")
    base_logits = [base.logits(u.test.x) for u in people]
    base_metrics = _metric_arrays([_scores(lg, u, prefixes) for lg, u in zip(base_logits, people)])
    tuning = data.users(split.tuning, config, vocab)
    weights = ngram.choose_weights([(base.logits(u.test.x), u.test, ngram.count(u.personal, config.vocab))
                                    for u in tuning])
    measured = [_ngram(base_logits, people, weights, prefixes, config.vocab)]
    for technique in TECHNIQUES:
        measured.append(_gradient(artifacts[technique], technique, people, prefixes, seeds, progress))
    probe = data.generic_examples(config, vocab, split.tuning, PROBE_EXAMPLES, seed=0)
    replay_seed = data.generic_examples(config, vocab, split.train, REPLAY_EXEMPLARS, seed=1)
    streams, replay = [], []
    for technique in CONTINUAL_TECHNIQUES:
        rows, test, base_probe = _streams(technique, artifacts[technique], people[:CONTINUAL_USERS], probe,
                                          replay_seed, prefixes, progress)
        streams += rows
        replay.append(test)
    oov = {"train plays": _oov(data.play_examples(split.train, config, vocab)),
           "tuning plays": _oov(data.play_examples(split.tuning, config, vocab)),
           "evaluation users' test words": float(np.mean(np.concatenate([u.test.y for u in people]) == data.UNK))}
    return Report(config.name, {"train": list(split.train), "tuning": list(split.tuning),
                                "evaluation": list(split.evaluation)}, len(vocab), tuple(u.name for u in people),
                  sum(len(u.test) for u in people), oov, {m: float(a.mean()) for m, a in base_metrics.items()},
                  base_probe, len(probe), weights, tuple(_rows(measured, base_metrics)), tuple(streams), tuple(replay),
                  tuple(seeds))


def _artifact(name: str, blob: bytes, fields: dict) -> Artifact:
    return Artifact(name, blob, fields.get("macs_per_train_step") or 0, fields.get("trainable_params") or 0)


def _zoo_artifacts() -> dict[str, Artifact]:
    from models.keyboard.zoo import MODEL, build

    built = {t: build(f"{MODEL}/{t}") for t in ("base", *TECHNIQUES)}
    return {t: _artifact(b.name, b.path.read_bytes(), b.manifest) for t, b in built.items()}


def exported_artifacts(config: Config, learning_rates: dict[str, float]) -> dict[str, Artifact]:
    """Fresh exports of `config` (not cached as variants: what a test or an experiment on another config uses)."""
    out = {"base": _artifact("keyboard-attn/base", *export_base(config))}
    for t in TECHNIQUES:
        out[t] = _artifact(f"keyboard-attn/{t}", *export_technique(config, t, learning_rates[t]))
    return out
