"""The keyboard task's protocol: play split, users, vocabulary and next-word examples.

- **Plays, not roles, are held out** (`split()`): the base model never sees an evaluation play, so an
  evaluation user brings names, words and topics the base does not know. Tuning plays choose the base's
  early stopping and each technique's settings and give the generic probe set.
- **A user** is a (play, role) pair with at least `MIN_SPEECHES` speeches. Their speeches in play order
  split at a speech boundary: the first ~60% of their words personalize, the rest test (strictly later).
- **Vocabulary** (`vocabulary()`): the most frequent words of the training plays, then the most frequent
  English words of `wordfreq` (its `small_en` list, read as data) not already in, up to `Config.vocab`
  ids; id 0 is the start of a speech (and left padding), id 1 the out-of-vocabulary token `<unk>`.
- **An example** is the `Config.context` ids before a word (padded with 0) and the word's id. The model
  never suggests 0 or 1; an out-of-vocabulary target is a miss in every metric and is left out of training.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.keyboard import corpus
from models.manifest import InputSpec
from models.task import TaskError

__all__ = ["Config", "FULL", "SMALL", "BOS", "UNK", "MIN_SPEECHES", "PERSONAL_SHARE", "Split", "User", "Examples",
           "split", "vocabulary", "user_speeches", "users", "encode", "examples", "play_examples", "inputs",
           "generic_examples"]

BOS, UNK = 0, 1
MIN_SPEECHES = 40
PERSONAL_SHARE = 0.6  # of a user's words, the earliest speeches
_SPLIT_SEED = 13


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the data and of the base model; `FULL` builds the zoo, `SMALL` keeps tests fast."""

    name: str
    vocab: int  # ids, including BOS and UNK
    wordfreq_words: int  # of them, at most this many from wordfreq (the rest from the training plays)
    context: int  # words of context per example
    dim: int  # embedding and body width
    hidden: int  # body MLP width
    epochs: int  # base training, most passes (early stopping on the tuning plays)
    eval_plays: int
    tuning_plays: int
    train_plays: int | None = None  # None: every play that is neither evaluation nor tuning
    max_users: int | None = None  # evaluation users, the first N (None: all)

    @property
    def split_id(self) -> str:
        return (f"iambic3-plays-eval{self.eval_plays}-tune{self.tuning_plays}-seed{_SPLIT_SEED}-min{MIN_SPEECHES}"
                f"-v{self.vocab}-wf{self.wordfreq_words}-c{self.context}")


FULL = Config("full", vocab=8000, wordfreq_words=1500, context=8, dim=64, hidden=256, epochs=6, eval_plays=8,
              tuning_plays=3)
SMALL = Config("small", vocab=600, wordfreq_words=100, context=4, dim=16, hidden=32, epochs=1, eval_plays=2,
               tuning_plays=1, train_plays=2, max_users=3)


@dataclasses.dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    tuning: tuple[str, ...]
    evaluation: tuple[str, ...]


def split(config: Config = FULL) -> Split:
    """Plays by role in the protocol, drawn once with a fixed seed from the sorted play names."""
    names = corpus.play_names()
    order = [names[i] for i in np.random.default_rng(_SPLIT_SEED).permutation(len(names))]
    evaluation = order[:config.eval_plays]
    tuning = order[config.eval_plays:config.eval_plays + config.tuning_plays]
    rest = order[config.eval_plays + config.tuning_plays:]
    train = rest if config.train_plays is None else rest[:config.train_plays]
    return Split(tuple(sorted(train)), tuple(sorted(tuning)), tuple(sorted(evaluation)))


def _speech_words(play: str) -> list[tuple[str, list[str]]]:
    return [(s.role.upper(), corpus.words(s.text)) for s in corpus.speeches(play)]


def _wordfreq_words() -> list[str]:
    """English words of wordfreq's `small_en` list, most frequent first (letters and apostrophes only)."""
    import msgpack

    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError("the keyboard task needs PyPI wordfreq==3.1.1")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "small_en.msgpack.gz"
    with gzip.open(path, "rb") as f:
        header, *buckets = msgpack.load(f, raw=False)
    if header != {"format": "cB", "version": 1}:
        raise TaskError(f"{path}: unexpected wordfreq header {header!r}")
    return [w for bucket in buckets for w in bucket if corpus.words(w) == [w]]


def vocabulary(config: Config = FULL) -> list[str]:
    """id -> word: `<s>`, `<unk>`, training-play words by count (ties alphabetical), then wordfreq words."""
    counts = collections.Counter(w for play in split(config).train for _, ws in _speech_words(play) for w in ws)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))[:config.vocab - 2 - config.wordfreq_words]
    known = set(ranked)
    extra = [w for w in _wordfreq_words() if w not in known][:config.vocab - 2 - len(ranked)]
    return ["<s>", "<unk>", *ranked, *extra]


def encode(words: Sequence[str], vocab: dict[str, int]) -> np.ndarray:
    return np.array([vocab.get(w, UNK) for w in words], np.int32)


@dataclasses.dataclass(frozen=True)
class Examples:
    """Next-word examples in time order: `x` (n, context) float32 ids (the models' input), `y` (n,) int32
    target ids and `letters` (n,) the target word's length (letters and apostrophes, also when out of vocabulary)."""

    x: np.ndarray
    y: np.ndarray
    letters: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index) -> Examples:
        return Examples(self.x[index], self.y[index], self.letters[index])

    def known(self) -> Examples:
        """Only examples whose target is in the vocabulary (what training uses)."""
        return self.take(self.y > UNK)


def examples(speeches: Sequence[Sequence[str]], index: dict[str, int], context: int) -> Examples:
    """One example per word of every speech; the context restarts at each speech (left-padded with BOS)."""
    xs, ys = [np.zeros((0, context), np.int32)], [np.zeros(0, np.int32)]
    for words in speeches:
        ids = encode(words, index)
        padded = np.concatenate([np.full(context, BOS, np.int32), ids])
        xs.append(np.lib.stride_tricks.sliding_window_view(padded[:-1], context)[:len(ids)])
        ys.append(ids)
    letters = np.array([len(w) for words in speeches for w in words], np.int32)
    return Examples(np.concatenate(xs).astype(np.float32), np.concatenate(ys), letters)


@dataclasses.dataclass(frozen=True)
class User:
    play: str
    role: str
    personal: Examples  # earlier speeches
    test: Examples  # later speeches
    personal_words: tuple[str, ...]  # the raw words of the personalization speeches (privacy test, n-gram)
    personal_speeches: int
    test_speeches: int

    @property
    def name(self) -> str:
        return f"{self.play}:{self.role}"


def user_speeches(play: str) -> dict[str, list[list[str]]]:
    """role -> the words of each of its speeches in time order, for every role of `play` that is a user
    (at least `MIN_SPEECHES` speeches with words)."""
    by_role: dict[str, list[list[str]]] = collections.defaultdict(list)
    for role, ws in _speech_words(play):
        if ws:
            by_role[role].append(ws)
    return {role: by_role[role] for role in sorted(by_role) if len(by_role[role]) >= MIN_SPEECHES}


def users(plays: Sequence[str], config: Config = FULL, vocab: Sequence[str] | None = None) -> list[User]:
    """Every user of `plays`, their speeches split in time order."""
    index = {w: i for i, w in enumerate(vocab or vocabulary(config))}
    out = []
    for play in plays:
        for role, speeches in user_speeches(play).items():
            cumulative = np.cumsum([len(s) for s in speeches])
            cut = int(np.searchsorted(cumulative, PERSONAL_SHARE * cumulative[-1])) + 1
            out.append(User(play, role, examples(speeches[:cut], index, config.context),
                            examples(speeches[cut:], index, config.context),
                            tuple(w for s in speeches[:cut] for w in s), cut, len(speeches) - cut))
    return out[:config.max_users]


def play_examples(plays: Sequence[str], config: Config, vocab: Sequence[str]) -> Examples:
    """Every example of every speech of `plays` (the base's training or tuning data)."""
    index = {w: i for i, w in enumerate(vocab)}
    return examples([ws for p in plays for _, ws in _speech_words(p) if ws], index, config.context)


def generic_examples(config: Config, vocab: Sequence[str], plays: Sequence[str], n: int, seed: int) -> Examples:
    """`n` known-target examples drawn from `plays`: generic text (the guard's probe set from the tuning plays;
    the replay buffer's first exemplars from the training plays)."""
    ex = play_examples(plays, config, vocab).known()
    return ex.take(np.sort(np.random.default_rng(seed).choice(len(ex), size=min(n, len(ex)), replace=False)))


def inputs(config: Config = FULL) -> tuple[InputSpec, InputSpec]:
    """The context ids (float32, so every runner feeds them like any other input; cast inside) and the label."""
    return (InputSpec("x", "float32", (config.context,), 0, config.vocab,
                      units=f"word ids of the {config.context} previous words (0 = start of speech)"),
            InputSpec("y", "int32", (), 2, config.vocab, units="word id of the next word"))
